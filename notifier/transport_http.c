/* SPDX-License-Identifier: MIT */
/*
 * transport_http: plain HTTP answers, each the last thing on its connection: refusals
 * (of the request head, of an event stream), /health and /metrics. Every connection
 * starts on this transport until its request names /ws or /sse.
 */
#include "autoconfig.h"
#include "client.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metrics.h"
#include "util.h"

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	default: return "Service Unavailable";
	}
}

static const char *status_code_name(int status)
{
	switch (status) {
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 503: return "unavailable";
	default: return "validation_failed";
	}
}

/* Queue the whole answer and close once it is written. extra: more header lines. */
void tr_http_respond(struct client *c, int status, const char *ctype, const char *body, const char *extra)
{
	size_t bl = strlen(body);
	char *head = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                       "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
	                       status, status_text(status), ctype, bl, extra ? extra : "");
	size_t hl = strlen(head);
	struct obuf *b = obuf_alloc(hl + bl, 0);
	memcpy(b->data, head, hl);
	memcpy(b->data + hl, body, bl);
	free(head);
	conn_queue(c, b);
	obuf_unref(b);
	conn_set_state(c, CS_DRAIN);
}

void tr_http_error(struct client *c, int status, const char *code, const char *message, const char *field)
{
	char *body = json_error(code, message, field);
	tr_http_respond(c, status, "application/json; charset=utf-8", body,
	                status == 503 ? "Retry-After: 2\r\n" : NULL);
	free(body);
}

/* The refusal of an event stream (and of anything not upgraded): an error answer. */
void tr_http_refuse(struct client *c, int status, const char *why)
{
	tr_http_error(c, status, status_code_name(status), why, NULL);
}

const struct transport_ops transport_http = {
	.name = "http",
	.open_count = &metrics.conns_http,
	.refuse = tr_http_refuse,
};
