/* SPDX-License-Identifier: MIT */
/*
 * url: the one percent-decoder and query-string reader (REST's query strings, the
 * notifier's stream URLs, redis_url's user, password and socket path). Pure.
 *
 * The rule: "%" must be followed by two hex digits (either case) and must not encode a
 * NUL byte; anything else is a bad escape and the whole value is refused. In query
 * strings (application/x-www-form-urlencoded) "+" is a space; in other URL parts it is
 * itself. A query string's first `name=value` pair counts; `name` alone has the value "".
 */
#ifndef CHATAI_COMMON_URL_H
#define CHATAI_COMMON_URL_H

#include <stddef.h>
#include "util.h"

/* Decode s[0..n) into out (cap bytes, NUL included). plus: 1 in query strings. The
 * decoded length, or -1 (bad escape, encoded NUL, or out too small). */
int url_pct_decode(const char *s, size_t n, int plus, char *out, size_t cap) CHATAI_WUR;

/* Query-string value: a fresh decoded copy in *out; 0, or -1 on a bad escape. */
int url_decode(const char *s, size_t n, char **out) CHATAI_WUR;
/* A URL part other than a query (user, password, path): fresh copy, NULL when bad. */
char *url_decode_part(const char *s, size_t n);

/*
 * The value of name in query string qs (without the '?'; NULL is empty): 1 with *out a
 * fresh decoded copy, 0 when absent, -1 when malformed.
 */
int query_get(const char *qs, const char *name, char **out) CHATAI_WUR;
/* query_copy()'s answers that are not a length. */
enum query_copy_fail {
	QUERY_ABSENT = -1,
	QUERY_MALFORMED = -2, /* badly encoded, decodes to a NUL byte, or longer than out */
};
/* The same into out (cap bytes, NUL included): its length, or QUERY_ABSENT or
 * QUERY_MALFORMED. */
int query_copy(const char *qs, const char *name, char *out, size_t cap) CHATAI_WUR;

#endif
