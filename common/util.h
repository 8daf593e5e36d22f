/* SPDX-License-Identifier: MIT */
/*
 * util: allocation wrappers that abort on failure (lighttpd's ck_calloc), UTF-8
 * checks, small string helpers. The limits of texts people write: text.h.
 *
 * Every function here is pure (no I/O) and safe to call from any thread.
 */
#ifndef CHATAI_UTIL_H
#define CHATAI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define CHATAI_WUR __attribute__((warn_unused_result))
#define CHATAI_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Return vocabulary shared by the whole tree. */
#define CHATAI_OK 0
#define CHATAI_ERR (-1)
#define CHATAI_AGAIN (-2) /* non-blocking I/O: try again when the fd is ready */

/* Largest request body the API accepts. */
#define CHATAI_BODY_MAX (64 * 1024)

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) CHATAI_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) CHATAI_PRINTF(1, 0);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_valid(const char *s, size_t len);
/* Number of code points in well-formed UTF-8. */
size_t utf8_count(const char *s, size_t len);

/* Parse a decimal int64 in [min, max] filling the whole string; 0 or -1. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out) CHATAI_WUR;
/* Parse s[0..n), 1 to 18 decimal digits (no sign, no space), as a value in [min, max];
 * 0 or -1. For numbers inside a longer text (a URL's port, a path's id). */
int parse_digits(const char *s, size_t n, int64_t min, int64_t max, int64_t *out) CHATAI_WUR;

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
