/* SPDX-License-Identifier: MIT */
/* cors: origin matching against an assistant's allowed_origins. */
#include "autoconfig.h"
#include "cors.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Split an origin into scheme, host and port (default ports made explicit). 0 or -1. */
static int origin_split(const char *o, char *scheme, size_t slen, char *host, size_t hlen, int *port)
{
	const char *sep = strstr(o, "://");
	if (!sep || (size_t)(sep - o) >= slen || sep == o)
		return -1;
	memcpy(scheme, o, (size_t)(sep - o));
	scheme[sep - o] = '\0';
	for (char *c = scheme; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	const char *h = sep + 3;
	const char *colon = NULL;
	if (*h == '[') {
		const char *rb = strchr(h, ']');
		if (!rb)
			return -1;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] && rb[1] != ':')
			return -1;
	} else {
		colon = strchr(h, ':');
	}
	size_t n = colon ? (size_t)(colon - h) : strlen(h);
	if (n == 0 || n >= hlen || memchr(h, '/', n))
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (colon) {
		int64_t p;
		if (colon[1] == '-' || parse_int64(colon + 1, 1, 65535, &p) < 0)
			return -1;
		*port = (int)p;
	} else if (strcmp(scheme, "https") == 0) {
		*port = 443;
	} else if (strcmp(scheme, "http") == 0) {
		*port = 80;
	} else {
		*port = 0;
	}
	return 0;
}

static int entry_matches(const char *origin, const char *entry)
{
	char os[16], es[16], oh[256], eh[256];
	int op, ep;
	if (origin_split(origin, os, sizeof os, oh, sizeof oh, &op) < 0 ||
	    origin_split(entry, es, sizeof es, eh, sizeof eh, &ep) < 0)
		return 0;
	if (strcmp(os, es) != 0 || op != ep)
		return 0;
	if (strncmp(eh, "*.", 2) == 0) {
		size_t sl = strlen(eh + 1); /* ".example.com" */
		size_t ol = strlen(oh);
		return ol > sl && strcmp(oh + ol - sl, eh + 1) == 0;
	}
	return strcmp(oh, eh) == 0;
}

int cors_allowed(const char *origin, const char *const *allowed, size_t n)
{
	/* An Origin that is not UTF-8 is never allowed, not even by an empty list: 403, as
	 * the notifier answers it (docs/streams.md), instead of echoing its bytes. */
	if (origin && !utf8_valid(origin, strlen(origin)))
		return 0;
	if (n == 0)
		return 1;
	if (!origin)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (allowed[i] && entry_matches(origin, allowed[i]))
			return 1;
	return 0;
}

int cors_allowed_json(const char *origin, const char *allowed_json)
{
	cJSON *a = cJSON_Parse(allowed_json ? allowed_json : "");
	if (!cJSON_IsArray(a)) {
		cJSON_Delete(a);
		return 0;
	}
	size_t n = (size_t)cJSON_GetArraySize(a);
	const char **list = xcalloc(n ? n : 1, sizeof *list);
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, a) {
		list[i++] = cJSON_IsString(it) ? it->valuestring : NULL;
	}
	int ok = cors_allowed(origin, list, n);
	free(list);
	cJSON_Delete(a);
	return ok;
}
