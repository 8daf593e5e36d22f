/* SPDX-License-Identifier: MIT */
/*
 * util: allocation wrappers that abort on failure (lighttpd's ck_calloc), UTF-8
 * checks and the message-text rule of API.md, small string helpers.
 *
 * Every function here is pure (no I/O) and safe to call from any thread.
 */
#ifndef CHATAI_UTIL_H
#define CHATAI_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define CHATAI_WUR __attribute__((warn_unused_result))
#define CHATAI_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Return vocabulary shared by the whole tree. */
#define CHATAI_OK 0
#define CHATAI_ERR (-1)
#define CHATAI_AGAIN (-2) /* non-blocking I/O: try again when the fd is ready */

/* Longest message text, in characters (code points) after trimming. */
#define CHATAI_TEXT_MAX_CHARS 4000
/* Largest request body the API accepts. */
#define CHATAI_BODY_MAX (64 * 1024)

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) CHATAI_PRINTF(1, 2);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_valid(const char *s, size_t len);
/* Number of code points in well-formed UTF-8. */
size_t utf8_count(const char *s, size_t len);

/*
 * Message text rule of API.md: valid UTF-8, no NUL, 1..4000 characters after trimming
 * surrounding white space (ASCII space, tab, CR, LF, VT, FF and U+00A0 / U+3000 are not
 * trimmed: only ASCII white space). On success *out is a fresh copy of the trimmed
 * text (caller frees) and 0 is returned; on failure -1 and *why names the problem.
 */
int text_validate(const char *s, size_t len, char **out, const char **why) CHATAI_WUR;

/* An operator's email: one '@' with text on both sides, 3..254 bytes of valid UTF-8, no
 * spaces or control characters. 1 when so. */
int email_valid(const char *s);
/* A display name (operator, assistant): text_validate()'s rule, then at most 200
 * characters and no control characters. 0 with *out the trimmed copy, or -1 and *why. */
int name_validate(const char *s, char **out, const char **why) CHATAI_WUR;

/* Parse a decimal int64 in [min, max] filling the whole string; 0 or -1. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) CHATAI_WUR;

/*
 * Client addresses as the limits count them (issue 12, item 10): one IPv6 client holds a
 * whole /64, so IPv6 addresses count per /64; IPv4 (and IPv4-mapped IPv6) per address.
 * addr_prefix64: a[16] in IPv6 form (IPv4 as ::ffff:a.b.c.d), its last 64 bits zeroed
 * unless it is IPv4-mapped.
 * addr_limit_key: the text form of the same key for a textual address ("2001:db8:1:2::/64",
 * "192.0.2.7"); anything that does not parse as an address is copied as it is. Always
 * NUL-terminates out (n >= 1).
 */
void addr_prefix64(unsigned char a[16]);
void addr_limit_key(const char *addr, char *out, size_t n);

/* Monotonic clock in microseconds / milliseconds. */
int64_t now_us(void);
int64_t now_ms(void);

#endif
