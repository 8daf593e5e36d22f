/* SPDX-License-Identifier: MIT */
/* inboxcursor: encoding of the inbox cursor. */
#include "autoconfig.h"
#include "inboxcursor.h"
#include "b64url.h"

#include <stdio.h>
#include <string.h>

void inbox_cursor_encode(const struct inbox_cursor *c, char out[INBOX_CURSOR_MAX])
{
	char plain[80];
	int n;
	if (c->hi <= c->lo && c->after_id == 0)
		n = snprintf(plain, sizeof plain, "v1:%lld", (long long)c->lo);
	else
		n = snprintf(plain, sizeof plain, "v1:%lld:%lld:%lld", (long long)c->lo, (long long)c->hi,
		             (long long)c->after_id);
	b64url_encode((const unsigned char *)plain, (size_t)n, out, INBOX_CURSOR_MAX);
}

/* A decimal in [0, INT64_MAX] of 1..19 digits at *p, advancing *p. */
static int take_num(const char **p, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;
	int digits = 0;
	while (*s >= '0' && *s <= '9') {
		if (digits == 19 || v > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
		s++;
		digits++;
	}
	if (!digits)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

int inbox_cursor_decode(const char *s, struct inbox_cursor *c)
{
	unsigned char plain[80];
	if (!s || strlen(s) >= INBOX_CURSOR_MAX)
		return -1;
	long n = b64url_decode(s, plain, sizeof plain - 1);
	if (n < 4)
		return -1;
	plain[n] = '\0';
	if (memchr(plain, '\0', (size_t)n) || memcmp(plain, "v1:", 3) != 0)
		return -1;
	const char *p = (const char *)plain + 3;
	struct inbox_cursor r = { 0, 0, 0 };
	if (take_num(&p, &r.lo) < 0)
		return -1;
	if (*p == '\0') {
		r.hi = r.lo;
	} else {
		if (*p++ != ':' || take_num(&p, &r.hi) < 0 || *p++ != ':' || take_num(&p, &r.after_id) < 0 ||
		    *p != '\0' || r.hi < r.lo)
			return -1;
	}
	*c = r;
	return 0;
}
