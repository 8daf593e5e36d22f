/* SPDX-License-Identifier: MIT */
/*
 * origin: the one allowed-origin rule (docs/api.md, "allowed_origins"). REST's CORS check
 * (fcgi/), the stream auth (notifier/auth.c), REST's assistant validation and chatai-ctl's
 * `assistant add --origin` all call it; no other file compares origins.
 *
 * An origin is "http" or "https" "://" host [":" port], no path, no user, no trailing
 * slash. host: DNS labels of letters, digits, '-' and '_' (at most 253 characters), or an
 * [IPv6] literal. port: 1..65535, digits only.
 *
 * Normal form (what is stored): scheme and host in lower case, the default port (80 for
 * http, 443 for https) left out. An allowed-origin entry may start its host with "*.":
 * the host "*.shop.example" allows every subdomain of shop.example (a.shop.example,
 * a.b.shop.example), never shop.example itself, with the same scheme and port.
 *
 * Matching: both sides are normalised, then the scheme, host and port compare equal (or
 * the host ends with the entry's ".suffix" for a wildcard entry). An empty list allows
 * every origin. A request without an Origin header (origin NULL: curl, servers) is not
 * restricted by origin: the visitor token is what authenticates it. An Origin that is not
 * valid UTF-8 is never allowed, not even by an empty list. "null" (sandboxed frames,
 * file://) passes only an empty list.
 *
 * Pure (no I/O, no globals): unit-tested in tests/unit/test_common.c and fuzzed by
 * tests/fuzz/fuzz_fcgi_query.c.
 */
#ifndef CHATAI_COMMON_ORIGIN_H
#define CHATAI_COMMON_ORIGIN_H

#include <stddef.h>

/* Room for the longest normal form: "https://" + "*." + 253 + ":65535" + NUL. */
#define ORIGIN_NORMAL_MAX 272

/*
 * Normalise s into out (cap >= ORIGIN_NORMAL_MAX is always enough). wildcard: 1 for an
 * allowed-origin entry (a leading "*." label allowed), 0 for an Origin header.
 * 0, or -1 when s is not an origin under the rule above (out then holds "").
 */
int origin_normalize(const char *s, int wildcard, char *out, size_t cap);

/* 1 when s is a well-formed allowed-origin entry (origin_normalize(s, 1, ...) == 0). */
int origin_entry_valid(const char *s);

/* Does the Origin header value origin pass the entry? 1 or 0 (0 when either is malformed). */
int origin_matches(const char *origin, const char *entry);

/* The rule against a list of n entries (NULL entries are skipped). */
int origin_allowed(const char *origin, const char *const *allowed, size_t n);

/* The same, with the list as a JSON array of strings (as PostgreSQL's to_jsonb or
 * array_to_json gives it). A list that does not parse allows nothing. */
int origin_allowed_json(const char *origin, const char *allowed_json);

#endif
