/* SPDX-License-Identifier: MIT */
/*
 * http: the request head of a stream or status request, parsed with libhttp-parser.
 *
 * Only what the notifier needs is kept: method, URL, and the headers Upgrade,
 * Connection, Sec-WebSocket-Key, Sec-WebSocket-Version, Origin, Last-Event-ID and
 * X-Forwarded-For.
 * Limits: the whole head at most HTTP_HEAD_MAX bytes (431 past it), the URL at most
 * HTTP_URL_MAX (414), each kept header at most the size of its field (431). A request
 * with a body is refused (400): streams are GET only.
 *
 * A struct http_req lives only during the handshake; the connection frees it as soon
 * as the request is answered. No I/O here: bytes in, a parsed head (or a status) out.
 */
#ifndef CHATAI_HTTP_H
#define CHATAI_HTTP_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include "url.h"
#include "util.h"
#include "hub.h"

#define HTTP_HEAD_MAX 8192
#define HTTP_URL_MAX 2048

enum http_feed {
	HTTP_AGAIN = 0, /* head not complete yet */
	HTTP_DONE = 1,  /* head complete: fields below are valid */
	HTTP_ERROR = 2, /* malformed or over a limit: answer req->status and close */
};

struct http_req {
	http_parser parser;
	size_t head_bytes;       /* bytes fed so far */
	int done;                /* headers complete */
	int status;              /* on HTTP_ERROR: 400, 414, 431 */
	int method;              /* enum http_method */
	int hdr;                 /* header being read: index of kept field or -1 */
	int in_value;            /* last callback was a value */
	char field[40];          /* name of the header being read */
	size_t field_len;
	size_t url_len;
	char url[HTTP_URL_MAX + 1];
	char upgrade[64];
	char connection[128];
	char ws_key[64];
	char ws_version[16];
	char origin[512];
	char last_event_id[32];
	char forwarded_for[256]; /* X-Forwarded-For (used only from a trusted proxy) */
	size_t hlen[7];          /* lengths of the seven kept headers above */
};

struct http_req *http_req_new(void);
void http_req_free(struct http_req *r);
/* Feed bytes; *used gets how many were consumed (the rest belong to the next layer). */
enum http_feed http_req_feed(struct http_req *r, const char *data, size_t len, size_t *used);

/* The last address of an X-Forwarded-For value (the one our proxy appended) as 16 bytes
 * (IPv4 mapped into IPv6). 0, or -1 when it is not an address. */
int http_forwarded_addr(const char *value, unsigned char out[16]);

/* 1 when the comma-separated header value contains token (case-insensitive). */
int http_has_token(const char *value, const char *token);

/*
 * Value of query parameter name in url (after '?'), percent-decoded into out (outlen
 * bytes including the NUL) by query_copy() of common/url.h. Returns its length, or
 * QUERY_ABSENT or QUERY_MALFORMED (too long, badly encoded, or decodes to a NUL byte).
 */
int http_query_param(const char *url, const char *name, char *out, size_t outlen) CHATAI_WUR;

enum http_transport { ROUTE_NONE = 0, ROUTE_WS, ROUTE_SSE, ROUTE_HEALTH, ROUTE_METRICS };

struct http_route {
	enum http_transport transport;
	enum hub_channel channel;
	int64_t dialog_id; /* ADMIN / SITE */
};

/* Map a URL (path and query) to a route; ROUTE_NONE when it is not ours (404). */
void http_route_parse(const char *url, struct http_route *rt);

#endif
