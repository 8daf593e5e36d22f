/* SPDX-License-Identifier: MIT */
/* router: matching request paths against the route table. */
#include "autoconfig.h"
#include "router.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* Match one path against one pattern, segment by segment. 1 on a match. */
static int pattern_match(const char *pat, const char *path, int64_t ids[ROUTE_MAX_IDS], int *nids)
{
	int n = 0;
	while (*pat && *path) {
		if (*pat != '/' || *path != '/')
			return 0;
		pat++;
		path++;
		const char *pe = strchr(pat, '/');
		const char *se = strchr(path, '/');
		size_t plen = pe ? (size_t)(pe - pat) : strlen(pat);
		size_t slen = se ? (size_t)(se - path) : strlen(path);
		if (plen == 4 && memcmp(pat, "{id}", 4) == 0) {
			char num[24];
			int64_t v;
			if (slen == 0 || slen >= sizeof num || n >= ROUTE_MAX_IDS)
				return 0;
			memcpy(num, path, slen);
			num[slen] = '\0';
			if (num[0] == '-' || parse_int64(num, 1, INT64_MAX, &v) < 0)
				return 0;
			ids[n++] = v;
		} else if (plen != slen || memcmp(pat, path, plen) != 0) {
			return 0;
		}
		pat += plen;
		path += slen;
	}
	if (*pat || *path)
		return 0;
	*nids = n;
	return 1;
}

/* Add method to the Allow list allow[0..*alen) unless it is there already. */
static void allow_add(char *allow, size_t allowlen, size_t *alen, const char *method)
{
	if (!allowlen || strstr(allow, method))
		return;
	int w = snprintf(allow + *alen, allowlen - *alen, "%s%s", *alen ? ", " : "", method);
	if (w > 0 && (size_t)w < allowlen - *alen)
		*alen += (size_t)w;
}

enum route_status route_match(const struct route *const *tables, const char *method, const char *path,
			      const struct route **out, int64_t ids[ROUTE_MAX_IDS], int *nids, char *allow,
			      size_t allowlen, int *widget)
{
	int path_known = 0;
	size_t alen = 0;
	*out = NULL;
	*nids = 0;
	*widget = 0;
	if (allowlen)
		allow[0] = '\0';
	for (const struct route *const *t = tables; *t; t++) {
		for (const struct route *rt = *t; rt->method; rt++) {
			int64_t tmp[ROUTE_MAX_IDS];
			int k = 0;
			if (!pattern_match(rt->pattern, path, tmp, &k))
				continue;
			path_known = 1;
			if (rt->flags & ROUTE_WIDGET)
				*widget = 1;
			if (strcmp(rt->method, method) == 0 && !*out) {
				*out = rt;
				memcpy(ids, tmp, sizeof tmp);
				*nids = k;
			}
			allow_add(allow, allowlen, &alen, rt->method);
		}
	}
	if (*widget)
		allow_add(allow, allowlen, &alen, "OPTIONS");
	if (*out)
		return ROUTE_FOUND;
	return path_known ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}
