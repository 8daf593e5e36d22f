/* SPDX-License-Identifier: MIT */
/* credis_url: redis_url, parsed (credis.h). Used by credis.c and notifier/redis_sub.c. */
#include "autoconfig.h"
#include "credis.h"
#include "log.h"
#include "url.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_small_int(const char *s, size_t n, int min, int max, int *out)
{
	int64_t v;
	if (parse_digits(s, n, min, max, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* Query string of a unix URL: db=N, password=P, user=U, separated by '&'. */
static int parse_query(const char *q, struct credis_url *u, const char **why)
{
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		if (!eq) {
			*why = "query parameter without a value";
			return -1;
		}
		size_t klen = (size_t)(eq - q);
		const char *v = eq + 1;
		size_t vlen = len - klen - 1;
		if (klen == 2 && memcmp(q, "db", 2) == 0) {
			if (parse_small_int(v, vlen, 0, 1000000, &u->db) < 0) {
				*why = "db is not a number";
				return -1;
			}
		} else if (klen == 8 && memcmp(q, "password", 8) == 0) {
			free(u->password);
			if (!(u->password = url_decode_part(v, vlen))) {
				*why = "bad percent escape in password";
				return -1;
			}
		} else if (klen == 4 && memcmp(q, "user", 4) == 0) {
			free(u->user);
			if (!(u->user = url_decode_part(v, vlen))) {
				*why = "bad percent escape in user";
				return -1;
			}
		} else {
			*why = "unknown query parameter (db, password and user are known)";
			return -1;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return 0;
}

void credis_url_free(struct credis_url *u)
{
	free(u->host);
	free(u->path);
	free(u->user);
	if (u->password) {
		explicit_bzero(u->password, strlen(u->password));
		free(u->password);
	}
	memset(u, 0, sizeof *u);
}

static int parse_unix(const char *p, struct credis_url *u, const char **why)
{
	if (*p != '/') {
		*why = "a unix socket path must be absolute";
		return -1;
	}
	const char *q = strchr(p, '?');
	size_t plen = q ? (size_t)(q - p) : strlen(p);
	if (!(u->path = url_decode_part(p, plen))) {
		*why = "bad percent escape in the socket path";
		return -1;
	}
	return q ? parse_query(q + 1, u, why) : 0;
}

static int parse_tcp(const char *p, struct credis_url *u, const char **why)
{
	size_t alen = strcspn(p, "/?#");
	const char *end = p + alen;
	const char *at = NULL;
	for (const char *s = p; s < end; s++)
		if (*s == '@')
			at = s;
	const char *h = p;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon) {
			*why = "credentials must read user:password@ or :password@";
			return -1;
		}
		if (colon > p && !(u->user = url_decode_part(p, (size_t)(colon - p)))) {
			*why = "bad percent escape in user";
			return -1;
		}
		if (!(u->password = url_decode_part(colon + 1, (size_t)(at - colon - 1)))) {
			*why = "bad percent escape in password";
			return -1;
		}
		h = at + 1;
	}
	const char *port = NULL;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb || rb == h + 1) {
			*why = "unterminated [IPv6] host";
			return -1;
		}
		u->host = xstrndup(h + 1, (size_t)(rb - h - 1));
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				*why = "junk after ]";
				return -1;
			}
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));
		size_t hlen = colon ? (size_t)(colon - h) : (size_t)(end - h);
		if (hlen > 0)
			u->host = xstrndup(h, hlen);
		if (colon)
			port = colon + 1;
	}
	if (!u->host)
		u->host = xstrdup("127.0.0.1");
	if (port && parse_small_int(port, (size_t)(end - port), 1, 65535, &u->port) < 0) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	if (*end == '#') {
		*why = "a fragment is not allowed";
		return -1;
	}
	if (*end == '/') {
		const char *d = end + 1;
		size_t dlen = strcspn(d, "?#");
		if (dlen > 0 && parse_small_int(d, dlen, 0, 1000000, &u->db) < 0) {
			*why = "the path must be a database number";
			return -1;
		}
		end = d + dlen;
	}
	if (*end == '#') {
		*why = "a fragment is not allowed";
		return -1;
	}
	if (*end == '?')
		return parse_query(end + 1, u, why);
	return 0;
}

int credis_url_parse(const char *url, struct credis_url *out, const char **why)
{
	static const char none[] = "";
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = none;
	memset(out, 0, sizeof *out);
	out->port = 6379;
	int rc;
	if (!url || !*url) {
		*why = "empty URL";
		return -1;
	}
	for (const char *s = url; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f) {
			*why = "white space or control character in the URL";
			return -1;
		}
	if (strncasecmp(url, "redis://", 8) == 0)
		rc = parse_tcp(url + 8, out, why);
	else if (strncasecmp(url, "unix://", 7) == 0)
		rc = parse_unix(url + 7, out, why);
	else if (strncasecmp(url, "unix:", 5) == 0)
		rc = parse_unix(url + 5, out, why);
	else if (url[0] == '/')
		rc = parse_unix(url, out, why);
	else if (strncasecmp(url, "rediss://", 9) == 0) {
		*why = "TLS (rediss://) is not supported: use a local Redis or a unix socket";
		rc = -1;
	} else {
		*why = "expected redis://host:port[/db], unix:///path or /path";
		rc = -1;
	}
	if (rc < 0)
		credis_url_free(out);
	return rc;
}

void credis_url_where(const struct credis_url *u, char *out, size_t cap)
{
	if (u->path)
		snprintf(out, cap, "%s", u->path);
	else if (strchr(u->host, ':'))
		snprintf(out, cap, "[%s]:%d", u->host, u->port);
	else
		snprintf(out, cap, "%s:%d", u->host, u->port);
}

int credis_url_open(const char *url, const char *without, struct credis_url *u, char *where, size_t cap)
{
	if (!url || !*url)
		return -1;
	const char *why;
	if (credis_url_parse(url, u, &why) < 0) {
		log_error("redis_url is malformed (%s): %s", why, without);
		return -1;
	}
	credis_url_where(u, where, cap);
	return 0;
}
