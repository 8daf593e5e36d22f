/* SPDX-License-Identifier: MIT */
/*
 * log: leveled logging to stderr or syslog. The format is checked by the compiler.
 * Never pass a token, password or visitor token to these functions: log ids instead.
 * log_redact() helps when a URL or query string must be logged: it replaces the values
 * of token=, visitor_token=, ticket=, password= and key= with "***".
 * Thread-safe (one write(2) per line on stderr; syslog is thread-safe).
 */
#ifndef CHATAI_LOG_H
#define CHATAI_LOG_H

#include <stddef.h>
#include "util.h"

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* ident: program name. target: "stderr" or "syslog". level: "debug".."error". */
void log_init(const char *ident, const char *target, const char *level);
int log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) CHATAI_PRINTF(2, 3);

#define log_debug(...) do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* Copy src into dst (size dstlen, always NUL-terminated) with secret values masked. */
void log_redact(const char *src, char *dst, size_t dstlen);

#endif
