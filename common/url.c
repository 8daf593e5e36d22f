/* SPDX-License-Identifier: MIT */
/* url: the one percent-decoder and query-string reader (see url.h). */
#include "autoconfig.h"
#include "url.h"

#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int url_pct_decode(const char *s, size_t n, int plus, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int h = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
			int l = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			c = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		} else if (c == '\0') {
			return -1;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (cap == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

static char *decode_dup(const char *s, size_t n, int plus)
{
	char *d = xmalloc(n + 1);
	if (url_pct_decode(s, n, plus, d, n + 1) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

int url_decode(const char *s, size_t n, char **out)
{
	*out = decode_dup(s, n, 1);
	return *out ? 0 : -1;
}

char *url_decode_part(const char *s, size_t n)
{
	return decode_dup(s, n, 0);
}

/* The raw value of name in qs: 1 with *v, *vlen set, or 0. */
static int query_find(const char *qs, const char *name, const char **v, size_t *vlen)
{
	if (!qs)
		return 0;
	size_t nlen = strlen(name);
	for (const char *p = qs; *p;) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		size_t klen = eq ? (size_t)(eq - p) : seg;
		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			*v = eq ? eq + 1 : p + seg;
			*vlen = eq ? seg - klen - 1 : 0;
			return 1;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return 0;
}

int query_get(const char *qs, const char *name, char **out)
{
	const char *v;
	size_t vlen;
	*out = NULL;
	if (!query_find(qs, name, &v, &vlen))
		return 0;
	return url_decode(v, vlen, out) < 0 ? -1 : 1;
}

int query_copy(const char *qs, const char *name, char *out, size_t cap)
{
	const char *v;
	size_t vlen;
	if (!query_find(qs, name, &v, &vlen))
		return QUERY_ABSENT;
	int n = url_pct_decode(v, vlen, 1, out, cap);
	return n < 0 ? QUERY_MALFORMED : n;
}
