/* SPDX-License-Identifier: MIT */
/*
 * transport_ws: WebSocket (RFC 6455, docs/streams.md). The stream opens with a 101
 * answer, carries each event as one text frame, keeps alive with pings (and closes a
 * peer silent for notifier_peer_timeout), and ends or refuses with a close frame whose
 * code says why (4401, 4403, 4404, 1013, 1001, 1008). Unlike an event stream it reads
 * the client: {"type":"ping"}, typing events, and the auth message of a socket opened
 * without credentials in its URL.
 */
#include "autoconfig.h"
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "json.h"
#include "metrics.h"
#include "pgfeed.h"
#include "token.h"
#include "wstyping.h"
#include "util.h"

/* Seconds a WebSocket opened without credentials has to send its auth message. */
#define AUTH_MSG_TIMEOUT 10.0

/*
 * What the WebSocket session says on its own: the one pong owed after a feed, close
 * frames. It counts against the caps like everything else, but the caps are checked by
 * tr_ws_input() once the feed has returned (closing the session from here could happen
 * inside wslay).
 */
static void tr_ws_out(void *arg, const uint8_t *data, size_t len)
{
	struct client *c = arg;
	if (c->state != CS_DEAD) {
		outq_push_copy(&c->out, data, len);
		conn_flush_schedule(c);
	}
}

static struct obuf *tr_ws_text_obuf(const char *json, size_t len, int64_t t)
{
	uint8_t hdr[10];
	size_t hl = ws_frame_header(hdr, WS_OP_TEXT, len);
	struct obuf *b = obuf_alloc(hl + len, t);
	memcpy(b->data, hdr, hl);
	memcpy(b->data + hl, json, len);
	return b;
}

static void tr_ws_send_text(struct client *c, const char *json)
{
	struct obuf *b = tr_ws_text_obuf(json, strlen(json), 0);
	conn_queue(c, b);
	obuf_unref(b);
}

/*
 * The answer to {"type":"ping"}: one shared frame, so that a client flooding pings and
 * not reading costs a queue slot per pong (16 bytes, less than the 17 it counts for
 * against the caps), not an allocation.
 */
static struct obuf *app_pong;

static void tr_ws_send_pong(struct client *c)
{
	if (!app_pong) {
		static const char pong[] = "{\"type\":\"pong\"}";
		app_pong = tr_ws_text_obuf(pong, sizeof(pong) - 1, 0);
	}
	conn_queue(c, app_pong);
}

void tr_ws_free_all(void)
{
	obuf_unref(app_pong);
	app_pong = NULL;
}

static void tr_ws_send_error(struct client *c, const char *code, const char *message, const char *request)
{
	char *j = xasprintf("{\"type\":\"error\",\"error\":{\"code\":\"%s\",\"message\":\"%s\"},"
	                    "\"request\":\"%s\"}", code, message, request);
	tr_ws_send_text(c, j);
	free(j);
}

/* ---- typing ------------------------------------------------------------------- */

/*
 * Typing from a WebSocket client follows the rules of POST .../typing (docs/api.md) and
 * its path (wstyping.h, common/typing.h: Redis when configured, else NOTIFY): the dialog
 * check refuses a closed dialog (CA409) or a missing one (P0002), and the
 * address's typing events count against rate_limit_typing per minute, as REST's do. On
 * top, at most 4 per second per socket (silently dropped past it), and none is queued
 * while the query link's queue holds QUERY_QUEUE_TYPING jobs. Each refusal is answered
 * with an error frame: {"type":"error","error":{"code","message"},"request":TYPE}.
 */
struct typing_job {
	struct client *c;
	const char *request; /* "typing_start" or "typing_stop" (static) */
};

static void typing_done(void *arg, PGresult *res)
{
	struct typing_job *tj = arg;
	struct client *c = tj->c;
	const char *request = tj->request;
	free(tj);
	c->pending_jobs--;
	if (c->state != CS_OPEN || !res || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return;
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (st && strcmp(st, "CA409") == 0)
		tr_ws_send_error(c, "conflict", "the dialog is closed", request);
	else if (st && strcmp(st, "P0002") == 0)
		tr_ws_send_error(c, "not_found", "no such dialog", request);
	else
		conn_log(c, LOG_LVL_WARN, "typing: %s", PQresultErrorMessage(res));
}

/* One more typing event from c's address: 0, or -1 past rate_limit_typing this minute. */
static int typing_hit(struct client *c)
{
	if (!conn_cfg.typing_per_minute || !c->ip)
		return 0;
	uint32_t win = listener_typing_minute();
	if (c->ip->typing_win != win) {
		c->ip->typing_win = win;
		c->ip->typing_hits = 0;
	}
	if (c->ip->typing_hits >= conn_cfg.typing_per_minute)
		return -1;
	c->ip->typing_hits++;
	return 0;
}

static void tr_ws_typing(struct client *c, const char *request)
{
	if (typing_hit(c) != 0) {
		tr_ws_send_error(c, "rate_limited", "too many typing events from this address: wait a minute", request);
		return;
	}
	if (pgfeed_queue_len() >= QUERY_QUEUE_TYPING) {
		tr_ws_send_error(c, "unavailable", "server busy: typing event dropped", request);
		return;
	}
	struct typing_job *tj = xmalloc(sizeof(*tj));
	tj->c = c;
	tj->request = strcmp(request, "typing_start") == 0 ? "typing_start" : "typing_stop";
	c->pending_jobs++;
	wstyping_send(c->dialog_id, c->is_visitor ? "user" : "manager",
	              strcmp(request, "typing_start") == 0 ? "start" : "stop", typing_done, tj);
}

/* ---- messages from the client ------------------------------------------------- */

/* The first message of a WebSocket opened without credentials in its URL. */
static void tr_ws_auth_message(struct client *c, cJSON *o)
{
	struct http_route rt;
	const char *type = NULL, *v = NULL;
	int ticket = 0;
	http_route_parse(c->req->url, &rt);
	if (o && json_get_str(o, "type", &type) == 0 && strcmp(type, "auth") == 0) {
		if (json_get_str(o, "ticket", &v) == 0)
			ticket = 1;
		else if (json_get_str(o, "token", &v) != 0 &&
		         (rt.channel != CHAN_SITE || json_get_str(o, "visitor_token", &v) != 0))
			v = NULL;
	}
	if (!v || !token_well_formed(v)) {
		request_refuse(c, 401, "the first message must be {\"type\":\"auth\",...}");
		conn_flush_schedule(c);
		return;
	}
	request_auth_start(c, &rt, ticket, v);
	conn_flush_schedule(c);
}

static void tr_ws_text(void *arg, const uint8_t *data, size_t len)
{
	struct client *c = arg;
	enum json_parse_err e;
	metrics.client_msgs_total++;
	cJSON *o = json_parse_body((const char *)data, len, &e);
	if (c->auth_msg) {
		/* First-message auth: the first message must be it; later ones (pings) wait. */
		if (c->auth_msg == 1)
			tr_ws_auth_message(c, o);
		cJSON_Delete(o);
		return;
	}
	if (!o)
		return; /* anything else is ignored (API.md) */
	const char *type = NULL;
	if (json_get_str(o, "type", &type) == 0) {
		if (strcmp(type, "ping") == 0) {
			tr_ws_send_pong(c);
		} else if ((strcmp(type, "typing_start") == 0 || strcmp(type, "typing_stop") == 0) &&
		           c->sub.kind != CHAN_INBOX && c->sub.active) {
			double now = loop_now();
			if (now - c->last_typing >= 0.25) {
				c->last_typing = now;
				tr_ws_typing(c, type);
			}
		}
	}
	cJSON_Delete(o);
}

static const struct ws_handler tr_ws_handler = { .out = tr_ws_out, .text = tr_ws_text };

/* ---- the transport ------------------------------------------------------------ */

static int tr_ws_check(struct client *c)
{
	struct http_req *r = c->req;
	char accept[WS_ACCEPT_LEN + 1];
	if (!http_has_token(r->upgrade, "websocket") || !http_has_token(r->connection, "upgrade")) {
		tr_http_error(c, 400, "validation_failed", "a WebSocket upgrade is required here", NULL);
		return -1;
	}
	if (strcmp(r->ws_version, "13") != 0) {
		tr_http_respond(c, 426, "application/json; charset=utf-8",
		                "{\"error\":{\"code\":\"validation_failed\",\"message\":\"WebSocket version 13 required\"}}",
		                "Sec-WebSocket-Version: 13\r\n");
		return -1;
	}
	if (ws_accept_key(r->ws_key, accept) != 0) {
		tr_http_error(c, 400, "validation_failed", "bad Sec-WebSocket-Key", NULL);
		return -1;
	}
	return 0;
}

/* The 101 answer, once (first-message auth sends it before authorising). */
static void tr_ws_accept_reply(struct client *c)
{
	if (c->ws_accepted)
		return;
	c->ws_accepted = 1;
	char accept[WS_ACCEPT_LEN + 1];
	if (ws_accept_key(c->req->ws_key, accept) != 0)
		abort(); /* checked by tr_ws_check() */
	char *head = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	conn_queue_copy(c, head, strlen(head));
	free(head);
	ws_session_init(&c->ws, &tr_ws_handler, c);
}

/* Send our close frame and wait for the peer's (or the linger timer). */
static void tr_ws_close(struct client *c, uint16_t code, const char *why)
{
	if (c->state != CS_CLOSING)
		c->ws.scan.saw_close = 0;
	conn_set_state(c, CS_CLOSING);
	ws_session_close(&c->ws, code, why);
}

static void tr_ws_refuse(struct client *c, int status, const char *why)
{
	tr_ws_accept_reply(c);
	tr_ws_close(c, (uint16_t)auth_ws_code(status), why);
}

static void tr_ws_bad_cursor(struct client *c)
{
	tr_ws_accept_reply(c);
	tr_ws_close(c, 1008, "bad since");
}

/* Nothing in the URL: the WebSocket opens and its first message must be
 * {"type":"auth","token"|"visitor_token"|"ticket":...} (tr_ws_auth_message). */
static void tr_ws_await_credentials(struct client *c)
{
	tr_ws_accept_reply(c);
	c->auth_msg = 1;
	conn_set_state(c, CS_OPEN);
	loop_timer_again(&c->timer, AUTH_MSG_TIMEOUT);
}

static struct obuf *tr_ws_encode(struct hub_event *ev, int chan_kind)
{
	(void)chan_kind;
	if (!ev->enc[ENC_WS])
		ev->enc[ENC_WS] = tr_ws_text_obuf(ev->json, ev->len, ev->t_recv_us);
	return ev->enc[ENC_WS];
}

static void tr_ws_keepalive(struct client *c)
{
	if (loop_now() - c->last_rx >= conn_cfg.peer_timeout) {
		conn_close(c, "peer silent");
		return;
	}
	uint8_t ping[10];
	size_t hl = ws_frame_header(ping, WS_OP_PING, 0);
	conn_queue_copy(c, ping, hl);
}

static double tr_ws_interval(void)
{
	return conn_cfg.ping_interval;
}

static void tr_ws_input(struct client *c, const uint8_t *data, size_t n)
{
	if (c->state == CS_CLOSING) {
		uint16_t code;
		(void)ws_scan_feed(&c->ws.scan, data, n, &code);
		if (c->ws.scan.saw_close || code) {
			c->peer_closed = 1;
			if (outq_empty(&c->out))
				conn_close(c, "close handshake done");
		}
		return;
	}
	c->last_rx = loop_now();
	if (ws_session_feed(&c->ws, data, n) == WS_CLOSED) {
		/* The peer closed (answered), or we refused a frame: fail the connection
		 * (RFC 6455 7.1.7) once the close frame has gone out. */
		conn_set_state(c, CS_DRAIN);
		return;
	}
	/* The pong of the feed went out through tr_ws_out(): it counts now. */
	conn_check_caps(c);
}

const struct transport_ops transport_ws = {
	.name = "ws",
	.open_count = &metrics.conns_ws,
	.check = tr_ws_check,
	.open = tr_ws_accept_reply,
	.refuse = tr_ws_refuse,
	.bad_cursor = tr_ws_bad_cursor,
	.await_credentials = tr_ws_await_credentials,
	.end = tr_ws_close,
	.encode = tr_ws_encode,
	.keepalive = tr_ws_keepalive,
	.interval = tr_ws_interval,
	.input = tr_ws_input,
};
