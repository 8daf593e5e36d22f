/* SPDX-License-Identifier: MIT */
/* http: request-head parsing over libhttp-parser (see http.h). */
#include "autoconfig.h"
#include "http.h"
#include "url.h"
#include "util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The kept headers, in the order of http_req's fields and hlen[]. */
static const char *const kept_names[7] = {
	"upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "origin", "last-event-id",
	"x-forwarded-for",
};

static char *kept_buf(struct http_req *r, int i, size_t *cap)
{
	switch (i) {
	case 0: *cap = sizeof(r->upgrade); return r->upgrade;
	case 1: *cap = sizeof(r->connection); return r->connection;
	case 2: *cap = sizeof(r->ws_key); return r->ws_key;
	case 3: *cap = sizeof(r->ws_version); return r->ws_version;
	case 4: *cap = sizeof(r->origin); return r->origin;
	case 5: *cap = sizeof(r->last_event_id); return r->last_event_id;
	default: *cap = sizeof(r->forwarded_for); return r->forwarded_for;
	}
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = p->data;
	if (r->url_len + len > HTTP_URL_MAX) {
		r->status = 414;
		return -1;
	}
	memcpy(r->url + r->url_len, at, len);
	r->url_len += len;
	r->url[r->url_len] = '\0';
	return 0;
}

static void field_done(struct http_req *r)
{
	r->hdr = -1;
	for (int i = 0; i < 7; i++) {
		if (r->field_len == strlen(kept_names[i]) &&
		    strncasecmp(r->field, kept_names[i], r->field_len) == 0) {
			r->hdr = i;
			break;
		}
	}
	/* A repeated list header continues as one comma-separated value. */
	if (r->hdr >= 0 && r->hlen[r->hdr] > 0) {
		size_t cap;
		char *b = kept_buf(r, r->hdr, &cap);
		if (r->hlen[r->hdr] + 2 < cap) {
			b[r->hlen[r->hdr]++] = ',';
			b[r->hlen[r->hdr]++] = ' ';
			b[r->hlen[r->hdr]] = '\0';
		}
	}
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = p->data;
	if (r->in_value) {
		r->in_value = 0;
		r->field_len = 0;
	}
	/* Names longer than any kept one are kept truncated: they can never match. */
	size_t room = sizeof(r->field) - 1 - r->field_len;
	size_t n = len < room ? len : room;
	memcpy(r->field + r->field_len, at, n);
	r->field_len += n;
	if (n < len)
		r->field_len = sizeof(r->field) - 1;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_req *r = p->data;
	if (!r->in_value) {
		r->in_value = 1;
		field_done(r);
	}
	if (r->hdr < 0)
		return 0;
	size_t cap;
	char *b = kept_buf(r, r->hdr, &cap);
	if (r->hlen[r->hdr] + len >= cap) {
		r->status = 431;
		return -1;
	}
	memcpy(b + r->hlen[r->hdr], at, len);
	r->hlen[r->hdr] += len;
	b[r->hlen[r->hdr]] = '\0';
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_req *r = p->data;
	r->method = p->method;
	if ((p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX)) {
		r->status = 400;
		return -1;
	}
	r->done = 1;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	/* Stop at the end of the first request: nothing is pipelined on a stream. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

struct http_req *http_req_new(void)
{
	struct http_req *r = xcalloc(1, sizeof(*r));
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
	r->hdr = -1;
	return r;
}

void http_req_free(struct http_req *r)
{
	free(r);
}

enum http_feed http_req_feed(struct http_req *r, const char *data, size_t len, size_t *used)
{
	*used = 0;
	if (r->done)
		return HTTP_DONE;
	if (r->status)
		return HTTP_ERROR;
	size_t room = HTTP_HEAD_MAX - r->head_bytes;
	size_t n = len < room ? len : room;
	size_t got = http_parser_execute(&r->parser, &settings, data, n);
	r->head_bytes += got;
	*used = got;
	if (r->done)
		return HTTP_DONE;
	enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
	if (e != HPE_OK && e != HPE_PAUSED) {
		if (!r->status)
			r->status = 400;
		return HTTP_ERROR;
	}
	if (r->head_bytes >= HTTP_HEAD_MAX) {
		r->status = 431;
		return HTTP_ERROR;
	}
	return HTTP_AGAIN;
}

int http_forwarded_addr(const char *value, unsigned char out[16])
{
	const char *last = strrchr(value, ',');
	last = last ? last + 1 : value;
	while (*last == ' ' || *last == '\t')
		last++;
	char buf[64];
	size_t n = strcspn(last, " \t");
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, last, n);
	buf[n] = '\0';
	unsigned char a4[4];
	memset(out, 0, 16);
	if (inet_pton(AF_INET, buf, a4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

int http_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	const char *p = value;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *s = p;
		while (*p && *p != ',')
			p++;
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
			return 1;
	}
	return 0;
}

int http_query_param(const char *url, const char *name, char *out, size_t outlen)
{
	const char *q = strchr(url, '?');
	return q ? query_copy(q + 1, name, out, outlen) : -1;
}

/* Parse a positive decimal id that ends the path (an optional trailing '/' allowed). */
static int64_t path_id(const char *s, size_t len)
{
	if (len && s[len - 1] == '/')
		len--;
	int64_t v;
	return parse_digits(s, len, 1, INT64_MAX, &v) == 0 ? v : -1;
}

static int path_is(const char *p, size_t len, const char *want)
{
	size_t wl = strlen(want);
	if (len && p[len - 1] == '/' && len > 1)
		len--;
	return len == wl && memcmp(p, want, wl) == 0;
}

void http_route_parse(const char *url, struct http_route *rt)
{
	memset(rt, 0, sizeof(*rt));
	size_t len = strcspn(url, "?#");
	const char *p = url;
	enum http_transport t;

	if (path_is(p, len, "/health")) {
		rt->transport = ROUTE_HEALTH;
		return;
	}
	if (path_is(p, len, "/metrics")) {
		rt->transport = ROUTE_METRICS;
		return;
	}
	if (len >= 4 && memcmp(p, "/ws/", 4) == 0) {
		t = ROUTE_WS;
		p += 4, len -= 4;
	} else if (len >= 5 && memcmp(p, "/sse/", 5) == 0) {
		t = ROUTE_SSE;
		p += 5, len -= 5;
	} else {
		return;
	}
	if (path_is(p, len, "inbox")) {
		rt->transport = t;
		rt->channel = CHAN_INBOX;
		return;
	}
	enum hub_channel ch = CHAN_ADMIN;
	if (len >= 7 && memcmp(p, "widget/", 7) == 0) {
		ch = CHAN_SITE;
		p += 7, len -= 7;
	}
	if (len < 8 || memcmp(p, "dialogs/", 8) != 0)
		return;
	int64_t id = path_id(p + 8, len - 8);
	if (id < 0)
		return;
	rt->transport = t;
	rt->channel = ch;
	rt->dialog_id = id;
}
