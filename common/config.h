/* SPDX-License-Identifier: MIT */
/*
 * config: one flat set of settings, read from a `key = value` file and from the
 * environment. A key `foo_bar` in the file is overridden by CHATAI_FOO_BAR in the
 * environment. The file is $CHATAI_CONFIG, else SYSCONFDIR/chatai.conf when it exists,
 * else the nearest chatai.conf in the program's own directory or a directory above it
 * (for hosts that pass no environment: mod_fcgid, suexec), going up only through
 * directories owned by the program's owner or root that no one else may write to.
 * Lines starting with `#` are comments, and so is the rest of a line from a `#` that
 * follows whitespace outside double quotes; values may be quoted with "".
 *
 * The keys the programs know, with their defaults and ranges, are common/settings.def;
 * read them through settings.h (settings_int(), settings_str()), not with a default of
 * your own.
 *
 * The strings returned are owned by the config module and stay valid until the next
 * config_load() (SIGHUP reload); copy what must outlive that. Not thread-safe against a
 * concurrent reload: threaded programs load once at start.
 */
#ifndef CHATAI_CONFIG_H
#define CHATAI_CONFIG_H

#include <stdint.h>
#include "util.h"

/* Load (or reload) the file and the environment. path NULL: default lookup.
 * Returns 0, or -1 when an explicitly named file cannot be read or has a syntax error
 * (then *err names the file and line; static storage). */
int config_load(const char *path, const char **err) CHATAI_WUR;

/* Set a value programmatically (tests, command-line flags). Overrides file and env. */
void config_set(const char *key, const char *value);

/* The value of key, or def when unset or empty. */
const char *config_get(const char *key, const char *def);
/* Integer value; def when unset; def (and a warning logged) when malformed. */
int64_t config_get_int(const char *key, int64_t def);
/* Boolean: 1/yes/true/on and 0/no/false/off. */
int config_get_bool(const char *key, int def);

/* Call fn for every key = value line of the loaded file (keys in lower case; the
 * environment and config_set() are not included). For `chatai-ctl check`. */
void config_each_file_key(void (*fn)(const char *key, const char *value, void *arg), void *arg);

/* The path actually loaded (NULL when none). */
const char *config_path(void);

/* Free everything (for leak checkers). */
void config_free(void);

#endif
