/* SPDX-License-Identifier: MIT */
/* origin: the one allowed-origin rule (see origin.h). */
#include "autoconfig.h"
#include "origin.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 253

/* An origin split into its parts, host in lower case, port 0 when it is the default. */
struct origin {
	int https;
	int wild; /* entry "*.suffix": host holds the suffix */
	char host[HOST_MAX + 1];
	unsigned port;
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int is_label_char(char c)
{
	c = lower(c);
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int is_hex_or_colon(char c)
{
	c = lower(c);
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':';
}

/* The host at s (up to end): DNS labels or an [IPv6] literal, copied in lower case. */
static int parse_host(const char *s, const char *end, struct origin *o)
{
	size_t n = (size_t)(end - s);
	if (n == 0 || n > HOST_MAX)
		return -1;
	if (s[0] == '[') {
		if (o->wild || n < 3 || end[-1] != ']')
			return -1;
		for (const char *c = s + 1; c < end - 1; c++)
			if (!is_hex_or_colon(*c))
				return -1;
	} else {
		/* Labels are non-empty: no leading, trailing or doubled dot. */
		if (s[0] == '.' || end[-1] == '.')
			return -1;
		for (const char *c = s; c < end; c++)
			if (!(is_label_char(*c) || (*c == '.' && c[1] != '.')))
				return -1;
	}
	for (size_t i = 0; i < n; i++)
		o->host[i] = lower(s[i]);
	o->host[n] = '\0';
	return 0;
}

/* ":port" at s, to the end of the string; absent is the default port. */
static int parse_port(const char *s, struct origin *o)
{
	o->port = 0;
	if (*s == '\0')
		return 0;
	if (*s != ':')
		return -1;
	size_t n = strlen(++s);
	if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
		return -1;
	unsigned long p = strtoul(s, NULL, 10);
	if (p < 1 || p > 65535)
		return -1;
	if (p != (o->https ? 443u : 80u))
		o->port = (unsigned)p;
	return 0;
}

static int parse(const char *s, int wildcard, struct origin *o)
{
	memset(o, 0, sizeof *o);
	if (!s || !utf8_valid(s, strlen(s)))
		return -1;
	if (strncasecmp(s, "https://", 8) == 0) {
		o->https = 1;
		s += 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		s += 7;
	} else {
		return -1;
	}
	if (wildcard && strncmp(s, "*.", 2) == 0) {
		o->wild = 1;
		s += 2;
	}
	const char *end;
	if (*s == '[') {
		end = strchr(s, ']');
		end = end ? end + 1 : s + strlen(s);
	} else {
		end = s + strcspn(s, ":");
	}
	if (parse_host(s, end, o) < 0)
		return -1;
	return parse_port(end, o);
}

int origin_normalize(const char *s, int wildcard, char *out, size_t cap)
{
	struct origin o;
	if (cap)
		out[0] = '\0';
	if (parse(s, wildcard, &o) < 0)
		return -1;
	char port[16] = "";
	if (o.port)
		snprintf(port, sizeof port, ":%u", o.port);
	int n = snprintf(out, cap, "%s://%s%s%s", o.https ? "https" : "http", o.wild ? "*." : "", o.host, port);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int origin_entry_valid(const char *s)
{
	struct origin o;
	return parse(s, 1, &o) == 0;
}

int origin_matches(const char *origin, const char *entry)
{
	struct origin a, e;
	if (parse(origin, 0, &a) < 0 || parse(entry, 1, &e) < 0)
		return 0;
	if (a.https != e.https || a.port != e.port)
		return 0;
	if (!e.wild)
		return strcmp(a.host, e.host) == 0;
	size_t al = strlen(a.host), el = strlen(e.host);
	return al > el + 1 && a.host[al - el - 1] == '.' && strcmp(a.host + al - el, e.host) == 0;
}

int origin_allowed(const char *origin, const char *const *allowed, size_t n)
{
	if (!origin)
		return 1;
	if (!utf8_valid(origin, strlen(origin)))
		return 0;
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (allowed[i] && origin_matches(origin, allowed[i]))
			return 1;
	return 0;
}

int origin_allowed_json(const char *origin, const char *allowed_json)
{
	if (!origin)
		return 1;
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
	int ok = origin_allowed(origin, list, n);
	free(list);
	cJSON_Delete(a);
	return ok;
}
