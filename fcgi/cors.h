/* SPDX-License-Identifier: MIT */
/*
 * cors: does an Origin header value pass an assistant's allowed_origins? Pure.
 *
 * Entries are origins as browsers send them (scheme://host[:port]), compared without
 * regard to case, with default ports (http 80, https 443) ignored on both sides. An
 * entry "https://&ast;.example.com" allows every subdomain of example.com (not example.com
 * itself). An empty list allows every origin. The special origin "null" (sandboxed
 * frames, file://) passes only an empty list.
 */
#ifndef CHATAI_FCGI_CORS_H
#define CHATAI_FCGI_CORS_H

#include <stddef.h>

int cors_allowed(const char *origin, const char *const *allowed, size_t n);
/* Same, with the list as a JSON array of strings (as PostgreSQL's to_jsonb gives it).
 * A list that does not parse allows nothing. */
int cors_allowed_json(const char *origin, const char *allowed_json);

#endif
