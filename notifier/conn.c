/* SPDX-License-Identifier: MIT */
/* conn: connection lifecycle, handshake, transports and output (see conn.h). */
#include "autoconfig.h"
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "hub.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "outq.h"
#include "pgfeed.h"
#include "sse.h"
#include "token.h"
#include "util.h"
#include "ws.h"
#include "wstyping.h"

enum conn_state {
	CS_HANDSHAKE = 0, /* reading the request head */
	CS_AUTH,          /* waiting for the auth query */
	CS_WS,            /* WebSocket open */
	CS_SSE,           /* event stream open */
	CS_DRAIN,         /* last bytes queued: close once flushed */
	CS_WS_CLOSING,    /* our close frame sent: waiting for the peer's */
	CS_DEAD,          /* closed, waiting to be freed */
};

static const char *const state_names[] = { "handshake", "auth", "ws", "sse", "drain", "ws-closing", "dead" };

enum conn_transport { TR_HTTP = 0, TR_WS, TR_SSE };

struct ip_count {
	uint8_t addr[16];           /* IPv6 or v4-mapped */
	uint32_t n;                 /* open connections from it */
	uint32_t typing_win;        /* minute (wall clock / 60) typing_hits counts in */
	uint32_t typing_hits;       /* typing events from it in that minute (rate_limit_typing) */
	struct ip_count *next;
};

/*
 * A fan-out touches, per subscriber, its struct sub and then fd, state, transport,
 * in_flush and the queue head: they come first, side by side (about two cache lines),
 * so that the hub's prefetch of the next subscriber (hub.c, on_msg) brings them in
 * while the current one's send() runs.
 */
struct conn {
	struct sub sub;
	uint64_t id;
	int fd;
	uint8_t state;              /* enum conn_state, only via conn_set_state() */
	uint8_t transport;          /* enum conn_transport */
	uint8_t in_flush;           /* on the flush list */
	uint8_t peer_closed_ws;     /* the peer's close frame arrived while WS_CLOSING */
	uint8_t is_visitor;
	uint8_t ws_accepted;        /* the 101 answer is queued (first-message auth) */
	uint8_t auth_msg;           /* WebSocket auth by first message: 1 awaited, 2 query sent */
	uint16_t pending_jobs;      /* queries that will call back with this conn */
	struct outq out;
	struct loop_io rio, wio;
	struct loop_timer timer;
	double last_rx;             /* loop time of the last byte received */
	double soft_since;          /* when the queue passed the soft cap (0: below) */
	double last_typing;         /* rate limit of typing events from the client */
	int64_t session_id;         /* operator streams (revocation) */
	double expires_at;          /* operator streams: loop time the session expires (0: none) */
	int64_t dialog_id;
	struct http_req *req;       /* during handshake and auth only */
	char *auth_hash;            /* token hash during auth only */
	int64_t assistant_id;       /* widget streams, during auth */
	int64_t since;              /* client cursor, -1 when none */
	struct ip_count *ip;
	struct ws_session ws;
	struct conn *prev, *next;   /* all connections */
	struct conn *flush_next;    /* flush list */
	struct conn *reap_next;     /* dead list */
};

static struct conn_settings cfg;
static const char *(*redis_state_fn)(void);
static const char *conn_redis_state(void);
static struct conn *all_conns, *flush_list, *reap_list;
static size_t n_conns;
static uint64_t next_id = 1;
static int shutting_down;

#define MAX_LISTENERS 8
static struct loop_io listeners[MAX_LISTENERS];
static int n_listeners;
static struct loop_timer accept_pause;

#define IP_BUCKETS 4096
static struct ip_count *ip_table[IP_BUCKETS];

static uint8_t rbuf[65536];

/*
 * Memory given back after big queues are freed. A queue is many small blocks; once they
 * are freed glibc keeps the pages for the next malloc, and a process that once held a
 * large queue keeps that resident size for good. After TRIM_BYTES of queued output have
 * been freed, malloc_trim() returns the free pages to the kernel, at most once a second.
 */
#define TRIM_BYTES (256u * 1024u)
static size_t trim_pending;  /* queued bytes freed since the last trim (items at 64 B) */
static double trim_last;

static void trim_note(const struct outq *q)
{
	trim_pending += q->bytes + (size_t)q->count * 64 + (size_t)q->cap * sizeof(struct outq_item);
}

static void trim_maybe(void)
{
	if (trim_pending < TRIM_BYTES || loop_now() - trim_last < 1.0)
		return;
	trim_pending = 0;
	trim_last = loop_now();
#if defined(__GLIBC__)
	malloc_trim(0);
#endif
}

static void conn_close(struct conn *c, const char *reason);
static void conn_flush(struct conn *c);

#define conn_log(c, lvl, fmt, ...) \
	do { if (log_enabled(lvl)) log_msg(lvl, "conn %llu: " fmt, (unsigned long long)(c)->id, __VA_ARGS__); } while (0)

static struct conn *conn_of_sub(struct sub *s)
{
	return (struct conn *)((char *)s - offsetof(struct conn, sub));
}

/* ---- settings ----------------------------------------------------------------- */

void conn_settings_set(const struct conn_settings *st)
{
	cfg = *st;
}

/* ---- per-address cap ---------------------------------------------------------- */

static size_t ip_hash(const uint8_t a[16])
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 1099511628211ull;
	return (size_t)(h % IP_BUCKETS);
}

static void ss_addr(const struct sockaddr_storage *ss, uint8_t a[16])
{
	memset(a, 0, 16);
	if (ss->ss_family == AF_INET) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		memcpy(a, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
}

/* Count one more connection from a; NULL when over the cap (unless !enforce). */
static struct ip_count *ip_take(const uint8_t a[16], int enforce)
{
	size_t b = ip_hash(a);
	struct ip_count *e;
	for (e = ip_table[b]; e; e = e->next)
		if (memcmp(e->addr, a, 16) == 0)
			break;
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->addr, a, 16);
		e->next = ip_table[b];
		ip_table[b] = e;
	}
	if (enforce && e->n >= cfg.max_per_ip)
		return NULL;
	e->n++;
	return e;
}

static int is_trusted(const uint8_t a[16])
{
	for (int i = 0; i < cfg.ntrusted; i++)
		if (memcmp(a, cfg.trusted[i], 16) == 0)
			return 1;
	return 0;
}

static void ip_free(struct ip_count *e)
{
	size_t b = ip_hash(e->addr);
	struct ip_count **pp = &ip_table[b];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	free(e);
}

static uint32_t typing_minute(void)
{
	return (uint32_t)(loop_now() / 60.0);
}

/* An address whose typing events of this minute are counted stays known when its last
 * connection closes, so reconnecting does not start its count again; ip_sweep() forgets
 * it once that minute is over. */
static void ip_release(struct ip_count *e)
{
	if (!e || --e->n)
		return;
	if (e->typing_hits && e->typing_win == typing_minute())
		return;
	ip_free(e);
}

static double ip_swept_at;

static void ip_sweep(void)
{
	if (loop_now() - ip_swept_at < 60.0)
		return;
	ip_swept_at = loop_now();
	uint32_t win = typing_minute();
	for (int i = 0; i < IP_BUCKETS; i++) {
		struct ip_count **pp = &ip_table[i];
		while (*pp) {
			struct ip_count *e = *pp;
			if (e->n == 0 && e->typing_win != win) {
				*pp = e->next;
				free(e);
			} else {
				pp = &e->next;
			}
		}
	}
}

/* ---- output ------------------------------------------------------------------- */

static void flush_schedule(struct conn *c)
{
	if (c->in_flush || c->state == CS_DEAD)
		return;
	c->in_flush = 1;
	c->flush_next = flush_list;
	flush_list = c;
}

static void conn_set_state(struct conn *c, enum conn_state st);

/* The client does not read: drop what it has not started to receive and end. */
static void conn_slow(struct conn *c, const char *why)
{
	metrics.slow_dropped_total++;
	conn_log(c, LOG_LVL_INFO, "slow reader (%zu bytes queued): %s", c->out.bytes, why);
	trim_note(&c->out);
	outq_drop_unstarted(&c->out);
	if (c->state == CS_WS) {
		conn_set_state(c, CS_WS_CLOSING);
		ws_session_close(&c->ws, 1013, "slow reader: resume with since");
	} else {
		conn_set_state(c, CS_DRAIN);
	}
	flush_schedule(c);
}

static void check_caps(struct conn *c)
{
	if (c->state != CS_WS && c->state != CS_SSE)
		return;
	if (c->out.bytes > cfg.max_queue) {
		conn_slow(c, "hard cap");
		return;
	}
	if (c->out.bytes > cfg.soft_queue) {
		double now = loop_now();
		if (c->soft_since == 0)
			c->soft_since = now;
		else if (now - c->soft_since >= cfg.soft_seconds)
			conn_slow(c, "soft cap held too long");
	} else {
		c->soft_since = 0;
	}
}

static void conn_queue(struct conn *c, struct obuf *b)
{
	if (c->state == CS_DEAD)
		return;
	outq_push(&c->out, b);
	flush_schedule(c);
	check_caps(c);
}

static void conn_queue_copy(struct conn *c, const void *data, size_t len)
{
	struct obuf *b = obuf_new(data, len, 0);
	conn_queue(c, b);
	obuf_unref(b);
}

/*
 * What the WebSocket session says on its own: the one pong owed after a feed, close
 * frames. It counts against the caps like everything else, but the caps are checked by
 * conn_input() once the feed has returned (closing the session from here could happen
 * inside wslay).
 */
static void ws_out(void *arg, const uint8_t *data, size_t len)
{
	struct conn *c = arg;
	if (c->state != CS_DEAD) {
		outq_push_copy(&c->out, data, len);
		flush_schedule(c);
	}
}

static struct obuf *ws_text_obuf(const char *json, size_t len, int64_t t)
{
	uint8_t hdr[10];
	size_t hl = ws_frame_header(hdr, WS_OP_TEXT, len);
	struct obuf *b = obuf_alloc(hl + len, t);
	memcpy(b->data, hdr, hl);
	memcpy(b->data + hl, json, len);
	return b;
}

static void conn_send_text(struct conn *c, const char *json)
{
	struct obuf *b = ws_text_obuf(json, strlen(json), 0);
	conn_queue(c, b);
	obuf_unref(b);
}

/*
 * The answer to {"type":"ping"}: one shared frame, so that a client flooding pings and
 * not reading costs a queue slot per pong (16 bytes, less than the 17 it counts for
 * against the caps), not an allocation.
 */
static struct obuf *app_pong;

static void conn_send_pong(struct conn *c)
{
	if (!app_pong) {
		static const char pong[] = "{\"type\":\"pong\"}";
		app_pong = ws_text_obuf(pong, sizeof(pong) - 1, 0);
	}
	conn_queue(c, app_pong);
}

/*
 * The clock of the notify-to-send histogram. A fan-out observes one figure per send, and
 * a clock_gettime() per delivery was 2 % of the notifier's time at 10k subscribers: one
 * reading serves SEND_CLOCK_USES sends (a figure is early by at most the 7 sends before
 * it, about 70 us at 10k subscribers: under the histogram's smallest bucket, 0.1 ms) and
 * is forgotten at the end of each loop iteration (prepare_hook), so it never outlives
 * the burst it was read in.
 */
#define SEND_CLOCK_USES 8
static int64_t send_clock_us;
static unsigned send_clock_left;

static int64_t send_clock(void)
{
	if (send_clock_left == 0) {
		send_clock_us = now_us();
		send_clock_left = SEND_CLOCK_USES;
	}
	send_clock_left--;
	return send_clock_us;
}

static void flush_done(void *arg, const struct obuf *b)
{
	if (b->t_recv_us)
		metrics_latency(send_clock() - b->t_recv_us);
}

/*
 * An event to a connection with nothing queued goes out at once with one send() of the
 * shared encoding: no queue slot, no flush-list pass over the connection again, and the
 * first subscribers have it while the hub is still walking the channel. Returns 1 when
 * the socket took it (what it did not take is queued behind the write watcher), 0 when
 * it must be queued (output already waiting, socket full, or an error: the flush then
 * meets the error again and closes the connection outside the hub's walk).
 */
static int conn_send_direct(struct conn *c, struct obuf *b)
{
	if (!outq_empty(&c->out) || c->in_flush)
		return 0;
	ssize_t w = send(c->fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w <= 0)
		return 0;
	if ((size_t)w == b->len) {
		if (b->t_recv_us)
			metrics_latency(send_clock() - b->t_recv_us);
		return 1;
	}
	outq_push_from(&c->out, b, (uint32_t)w);
	loop_io_start(&c->wio);
	check_caps(c);
	return 1;
}

static void conn_flush(struct conn *c)
{
	if (c->state == CS_DEAD)
		return;
	ssize_t r = outq_flush(&c->out, c->fd, flush_done, c);
	if (r == CHATAI_ERR) {
		conn_close(c, "write error");
		return;
	}
	if (c->sub.paused && c->out.bytes < cfg.soft_queue / 4)
		hub_sub_resume(&c->sub);
	if (r == CHATAI_AGAIN) {
		loop_io_start(&c->wio);
		return;
	}
	loop_io_stop(&c->wio);
	c->soft_since = 0;
	if (c->state == CS_DRAIN || (c->state == CS_WS_CLOSING && c->peer_closed_ws))
		conn_close(c, "done");
}

/* ---- state -------------------------------------------------------------------- */

static void set_transport(struct conn *c, enum conn_transport t)
{
	uint64_t *ctr[3] = { &metrics.conns_http, &metrics.conns_ws, &metrics.conns_sse };
	(*ctr[c->transport])--;
	c->transport = (uint8_t)t;
	(*ctr[t])++;
}

/* Heartbeat timer of an open stream: every `interval`, but never past the session's
 * expiry, where conn_timer_cb() ends the stream. */
static void conn_arm(struct conn *c, double interval)
{
	if (c->expires_at > 0) {
		double left = c->expires_at - loop_now();
		if (left < interval)
			interval = left > 0.001 ? left : 0.001;
	}
	loop_timer_again(&c->timer, interval);
}

static void conn_set_state(struct conn *c, enum conn_state st)
{
	if (c->state == st || c->state == CS_DEAD)
		return;
	conn_log(c, LOG_LVL_DEBUG, "%s -> %s", state_names[c->state], state_names[st]);
	c->state = (uint8_t)st;
	switch (st) {
	case CS_HANDSHAKE:
	case CS_AUTH:
		break;
	case CS_WS:
		c->last_rx = loop_now();
		loop_io_start(&c->rio);
		conn_arm(c, cfg.ping_interval);
		break;
	case CS_SSE:
		loop_io_start(&c->rio);
		conn_arm(c, cfg.sse_ping_interval);
		break;
	case CS_DRAIN:
		loop_io_stop(&c->rio);
		loop_timer_again(&c->timer, cfg.linger);
		break;
	case CS_WS_CLOSING:
		c->ws.scan.saw_close = 0;
		c->peer_closed_ws = 0;
		loop_io_start(&c->rio);
		loop_timer_again(&c->timer, cfg.linger);
		break;
	case CS_DEAD:
		break;
	}
}

static void conn_close(struct conn *c, const char *reason)
{
	if (c->state == CS_DEAD)
		return;
	conn_log(c, LOG_LVL_DEBUG, "closed in state %s: %s", state_names[c->state], reason);
	c->state = CS_DEAD;
	loop_io_stop(&c->rio);
	loop_io_stop(&c->wio);
	loop_timer_stop(&c->timer);
	close(c->fd);
	c->fd = -1;
	hub_sub_leave(&c->sub);
	ws_session_free(&c->ws);
	trim_note(&c->out);
	outq_clear(&c->out);
	ip_release(c->ip);
	c->ip = NULL;
	uint64_t *ctr[3] = { &metrics.conns_http, &metrics.conns_ws, &metrics.conns_sse };
	(*ctr[c->transport])--;
	c->reap_next = reap_list;
	reap_list = c;
}

static void conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		all_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	http_req_free(c->req);
	free(c->auth_hash);
	n_conns--;
	free(c);
}

/* ---- answers ------------------------------------------------------------------ */

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

static void conn_respond(struct conn *c, int status, const char *ctype, const char *body, const char *extra)
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

static void conn_error(struct conn *c, int status, const char *code, const char *message, const char *field)
{
	char *body = json_error(code, message, field);
	conn_respond(c, status, "application/json; charset=utf-8", body,
	             status == 503 ? "Retry-After: 2\r\n" : NULL);
	free(body);
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

/* ---- WebSocket ---------------------------------------------------------------- */

/*
 * Typing from a WebSocket client follows the rules of POST .../typing (docs/api.md) and
 * its path (wstyping.h, common/typing.h: Redis when configured, else NOTIFY): the dialog
 * check refuses a closed dialog (CA409) or a missing one (P0002), and the
 * address's typing events count against rate_limit_typing per minute, as REST's do. On
 * top, at most 4 per second per socket (silently dropped past it), and none is queued
 * while the query link's queue holds QUERY_QUEUE_TYPING jobs. Each refusal is answered
 * with an error frame: {"type":"error","error":{"code","message"},"request":TYPE}.
 */
/* The query link's queue: typing is shed past QUERY_QUEUE_TYPING jobs, new streams are
 * refused (503 / 1013) past QUERY_QUEUE_MAX. Replays and session checks, which a client
 * cannot multiply, are not counted out. */
#define QUERY_QUEUE_TYPING 256
#define QUERY_QUEUE_MAX 4096

static void conn_send_error(struct conn *c, const char *code, const char *message, const char *request)
{
	char *j = xasprintf("{\"type\":\"error\",\"error\":{\"code\":\"%s\",\"message\":\"%s\"},"
	                    "\"request\":\"%s\"}", code, message, request);
	conn_send_text(c, j);
	free(j);
}

struct typing_job {
	struct conn *c;
	const char *request; /* "typing_start" or "typing_stop" (static) */
};

static void typing_done(void *arg, PGresult *res)
{
	struct typing_job *tj = arg;
	struct conn *c = tj->c;
	const char *request = tj->request;
	free(tj);
	c->pending_jobs--;
	if (c->state != CS_WS || !res || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return;
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (st && strcmp(st, "CA409") == 0)
		conn_send_error(c, "conflict", "the dialog is closed", request);
	else if (st && strcmp(st, "P0002") == 0)
		conn_send_error(c, "not_found", "no such dialog", request);
	else
		conn_log(c, LOG_LVL_WARN, "typing: %s", PQresultErrorMessage(res));
}

/* One more typing event from c's address: 0, or -1 past rate_limit_typing this minute. */
static int typing_hit(struct conn *c)
{
	if (!cfg.typing_per_minute || !c->ip)
		return 0;
	uint32_t win = typing_minute();
	if (c->ip->typing_win != win) {
		c->ip->typing_win = win;
		c->ip->typing_hits = 0;
	}
	if (c->ip->typing_hits >= cfg.typing_per_minute)
		return -1;
	c->ip->typing_hits++;
	return 0;
}

static void conn_typing(struct conn *c, const char *request)
{
	if (typing_hit(c) != 0) {
		conn_send_error(c, "rate_limited", "too many typing events from this address: wait a minute", request);
		return;
	}
	if (pgfeed_queue_len() >= QUERY_QUEUE_TYPING) {
		conn_send_error(c, "unavailable", "server busy: typing event dropped", request);
		return;
	}
	struct typing_job *tj = xmalloc(sizeof(*tj));
	tj->c = c;
	tj->request = strcmp(request, "typing_start") == 0 ? "typing_start" : "typing_stop";
	c->pending_jobs++;
	wstyping_send(c->dialog_id, c->is_visitor ? "user" : "manager",
	              strcmp(request, "typing_start") == 0 ? "start" : "stop", typing_done, tj);
}

static void auth_message(struct conn *c, cJSON *o);

static void ws_text(void *arg, const uint8_t *data, size_t len)
{
	struct conn *c = arg;
	enum json_parse_err e;
	metrics.client_msgs_total++;
	cJSON *o = json_parse_body((const char *)data, len, &e);
	if (c->auth_msg) {
		/* First-message auth: the first message must be it; later ones (pings) wait. */
		if (c->auth_msg == 1)
			auth_message(c, o);
		cJSON_Delete(o);
		return;
	}
	if (!o)
		return; /* anything else is ignored (API.md) */
	const char *type = NULL;
	if (json_get_str(o, "type", &type) == 0) {
		if (strcmp(type, "ping") == 0) {
			conn_send_pong(c);
		} else if ((strcmp(type, "typing_start") == 0 || strcmp(type, "typing_stop") == 0) &&
		           c->sub.kind != CHAN_INBOX && c->sub.active) {
			double now = loop_now();
			if (now - c->last_typing >= 0.25) {
				c->last_typing = now;
				conn_typing(c, type);
			}
		}
	}
	cJSON_Delete(o);
}

static const struct ws_handler ws_handler = { .out = ws_out, .text = ws_text };

static void ws_accept_reply(struct conn *c)
{
	char accept[WS_ACCEPT_LEN + 1];
	if (ws_accept_key(c->req->ws_key, accept) != 0)
		abort(); /* checked at request time */
	char *head = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	conn_queue_copy(c, head, strlen(head));
	free(head);
	ws_session_init(&c->ws, &ws_handler, c);
}

/* ---- events to the wire ------------------------------------------------------- */

static void hub_deliver(struct sub *s, struct hub_event *ev)
{
	struct conn *c = conn_of_sub(s);
	if (c->state != CS_WS && c->state != CS_SSE)
		return;
	int enc;
	if (c->transport == TR_WS)
		enc = ENC_WS;
	else if (ev->kind == HEV_MSG && s->kind != CHAN_INBOX)
		enc = ENC_SSE_ID;
	else
		enc = ENC_SSE;
	if (!ev->enc[enc]) {
		if (enc == ENC_WS) {
			ev->enc[enc] = ws_text_obuf(ev->json, ev->len, ev->t_recv_us);
		} else {
			int64_t id = enc == ENC_SSE_ID ? ev->seq : 0;
			size_t n = sse_event_size(id, ev->json, ev->len);
			struct obuf *b = obuf_alloc(n, ev->t_recv_us);
			sse_event(b->data, n, id, ev->json, ev->len);
			ev->enc[enc] = b;
		}
	}
	if (!conn_send_direct(c, ev->enc[enc]))
		conn_queue(c, ev->enc[enc]);
}

/* End an open stream because its session no longer holds: WebSocket close 4401, SSE end
 * of stream (the client's next request gets 401). */
static void conn_end_session(struct conn *c, const char *why)
{
	conn_log(c, LOG_LVL_INFO, "session %lld: %s", (long long)c->session_id, why);
	if (c->state == CS_WS) {
		conn_set_state(c, CS_WS_CLOSING);
		ws_session_close(&c->ws, 4401, why);
		flush_schedule(c);
	} else if (c->state == CS_SSE) {
		conn_set_state(c, CS_DRAIN);
		flush_schedule(c);
	}
}

/*
 * Revocation. {"k":"revoke","session_id":N} means the session was revoked, deleted or its
 * expiry moved back: it may still be valid (a shorter expiry), so it is asked again
 * (auth_session_sql) and then every stream of it is ended, or re-armed to its new expiry.
 *
 * Streams still authenticating are why it is asked at all: their auth query may have
 * read the session before the revocation committed, and they have no session id until it
 * answers. The query link answers in order, so such an auth query answers before the
 * re-check, whose snapshot follows the commit: when the re-check says "gone", every
 * stream of the session, those just authorised included, has its id and is ended; an
 * auth query sent after it sees the revocation itself. The ids found gone are also kept
 * for REVOKED_KEEP past the longest handshake, and an auth answer naming one is refused.
 */
struct revoked {
	int64_t sid;
	double at; /* loop time it was found gone */
};
static struct revoked *revoked;
static size_t n_revoked, cap_revoked;

static double revoked_keep(void)
{
	return cfg.handshake_timeout + 2.0;
}

static void revoked_add(int64_t sid)
{
	double now = loop_now();
	size_t k = 0;
	for (size_t i = 0; i < n_revoked; i++)
		if (now - revoked[i].at < revoked_keep() && revoked[i].sid != sid)
			revoked[k++] = revoked[i];
	n_revoked = k;
	if (n_revoked == cap_revoked) {
		cap_revoked = cap_revoked ? cap_revoked * 2 : 16;
		revoked = xrealloc(revoked, cap_revoked * sizeof(*revoked));
	}
	revoked[n_revoked].sid = sid;
	revoked[n_revoked].at = now;
	n_revoked++;
}

static int revoked_has(int64_t sid)
{
	double now = loop_now();
	for (size_t i = 0; i < n_revoked; i++)
		if (revoked[i].sid == sid && now - revoked[i].at < revoked_keep())
			return 1;
	return 0;
}

static void session_check_done(void *arg, PGresult *res)
{
	int64_t sid = *(int64_t *)arg;
	free(arg);
	if (!res)
		return; /* shutting down */
	double left = auth_session_left(res);
	if (left <= 0)
		revoked_add(sid);
	for (struct conn *c = all_conns; c; c = c->next) {
		if (c->is_visitor || c->session_id != sid || (c->state != CS_WS && c->state != CS_SSE))
			continue;
		if (left <= 0) {
			conn_end_session(c, "session revoked");
		} else {
			c->expires_at = loop_now() + left;
			conn_arm(c, c->state == CS_WS ? cfg.ping_interval : cfg.sse_ping_interval);
		}
	}
}

/* Ask about session sid again (survives a lost link: asked again after reconnecting). */
static void session_check(int64_t sid)
{
	char p[24];
	const char *params[1] = { p };
	int64_t *arg = xmalloc(sizeof(*arg));
	*arg = sid;
	snprintf(p, sizeof(p), "%lld", (long long)sid);
	pgfeed_query(auth_session_sql, 1, params, PGJOB_RETRY, session_check_done, arg);
}

void conn_revoke_session(int64_t session_id)
{
	int wanted = 0;
	for (struct conn *c = all_conns; c && !wanted; c = c->next)
		if (!c->is_visitor && (c->session_id == session_id || c->state == CS_AUTH))
			wanted = 1;
	if (wanted)
		session_check(session_id);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

void conn_recheck_sessions(void)
{
	size_t n = 0, k = 0;
	for (struct conn *c = all_conns; c; c = c->next)
		n += !c->is_visitor && c->session_id && (c->state == CS_WS || c->state == CS_SSE);
	if (!n)
		return;
	int64_t *ids = xmalloc(n * sizeof(*ids));
	for (struct conn *c = all_conns; c && k < n; c = c->next)
		if (!c->is_visitor && c->session_id && (c->state == CS_WS || c->state == CS_SSE))
			ids[k++] = c->session_id;
	qsort(ids, k, sizeof(*ids), cmp_i64);
	for (size_t i = 0; i < k; i++)
		if (i == 0 || ids[i] != ids[i - 1])
			session_check(ids[i]);
	free(ids);
}

static void hub_revoke(int64_t session_id)
{
	conn_revoke_session(session_id);
}

/* Replays fill a queue only up to half the soft cap, then wait for it to drain. */
static int hub_can_take(struct sub *s)
{
	struct conn *c = conn_of_sub(s);
	return (c->state == CS_WS || c->state == CS_SSE) && c->out.bytes < cfg.soft_queue / 2;
}

static const struct hub_ops hub_ops = { .deliver = hub_deliver, .can_take = hub_can_take, .revoke = hub_revoke };

/* ---- authentication ----------------------------------------------------------- */

static void auth_refuse(struct conn *c, int status, const char *why)
{
	metrics.auth_refused_total++;
	hub_sub_leave(&c->sub);
	c->auth_msg = 0;
	if (c->transport == TR_WS) {
		if (!c->ws_accepted)
			ws_accept_reply(c);
		ws_session_close(&c->ws, (uint16_t)auth_ws_code(status), why);
		conn_set_state(c, CS_WS_CLOSING);
	} else {
		conn_error(c, status, status_code_name(status), why, NULL);
	}
	http_req_free(c->req);
	c->req = NULL;
}

static void auth_allow(struct conn *c, const struct auth_result *ar)
{
	c->session_id = ar->session_id;
	if (ar->expires_in > 0)
		c->expires_at = loop_now() + ar->expires_in;
	if (c->transport == TR_WS) {
		if (!c->ws_accepted)
			ws_accept_reply(c);
		conn_set_state(c, CS_WS);
	} else {
		const char *origin = NULL;
		if (c->is_visitor && c->req->origin[0])
			origin = c->req->origin;
		char head[1200];
		size_t n = sse_head(head, sizeof(head), origin);
		conn_queue_copy(c, head, n < sizeof(head) ? n : sizeof(head));
		conn_set_state(c, CS_SSE);
	}
	http_req_free(c->req);
	c->req = NULL;
	if (c->sub.kind == CHAN_INBOX) {
		hub_sub_start(&c->sub, 0, 0);
		return;
	}
	/* A cursor past the dialog's end is not trusted: start from the end. */
	if (c->since >= 0 && c->since < ar->last_seq)
		hub_sub_start(&c->sub, c->since, 1);
	else
		hub_sub_start(&c->sub, ar->last_seq, 0);
}

static void auth_done(void *arg, PGresult *res)
{
	struct conn *c = arg;
	struct auth_result ar;
	c->pending_jobs--;
	if (c->state != CS_AUTH && !(c->state == CS_WS && c->auth_msg == 2)) {
		free(c->auth_hash);
		c->auth_hash = NULL;
		return; /* closed meanwhile: freed by the reaper */
	}
	c->auth_msg = 0;
	if (c->is_visitor)
		auth_visitor_decide(res, c->auth_hash, c->assistant_id,
		                    c->req && c->req->origin[0] ? c->req->origin : NULL, &ar);
	else
		auth_operator_decide(res, c->sub.kind != CHAN_INBOX, &ar);
	free(c->auth_hash);
	c->auth_hash = NULL;
	if (!ar.status && !c->is_visitor && revoked_has(ar.session_id)) {
		/* Read before a revocation that has arrived since (see revoked above). */
		ar.status = 401;
		ar.why = "session revoked";
	}
	if (ar.status)
		auth_refuse(c, ar.status, ar.why);
	else
		auth_allow(c, &ar);
}

/* ---- requests ----------------------------------------------------------------- */

static int parse_cursor(const char *url, const struct http_req *r, int sse, int64_t *out)
{
	char v[32];
	*out = -1;
	const char *names[3] = { "since", "last_event_id", NULL };
	if (sse && r->last_event_id[0]) {
		if (parse_int64(r->last_event_id, 0, INT64_MAX, out) != 0)
			return -1;
		return 0;
	}
	for (int i = 0; names[i]; i++) {
		if (!sse && i > 0)
			break;
		int n = http_query_param(url, names[i], v, sizeof(v));
		if (n == -1)
			continue;
		if (n < 0 || parse_int64(v, 0, INT64_MAX, out) != 0)
			return -1;
		return 0;
	}
	return 0;
}

static void refuse_early(struct conn *c, int status, const char *why)
{
	/* Refusals that need no query: same answer as after one. */
	auth_refuse(c, status, why);
}

/*
 * Behind a reverse proxy every client comes from the proxy's address: for a peer listed in
 * notifier_trusted_proxies the per-address cap counts the address the proxy appended to
 * X-Forwarded-For instead. 0, or -1 when that address is over its cap (answered 429).
 */
static int conn_forwarded_for(struct conn *c)
{
	uint8_t client[16];
	if (!is_trusted(c->ip->addr))
		return 0;
	if (!c->req->forwarded_for[0] || http_forwarded_addr(c->req->forwarded_for, client) != 0) {
		/* Direct from the proxy's own address: that address's cap applies. */
		if (c->ip->n > cfg.max_per_ip) {
			metrics.refused_per_ip_total++;
			conn_respond(c, 429, "application/json; charset=utf-8",
			             "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many connections from this address\"}}",
			             "Retry-After: 5\r\n");
			return -1;
		}
		return 0;
	}
	addr_prefix64(client); /* IPv6 per /64 */
	struct ip_count *ip = ip_take(client, 1);
	if (!ip) {
		metrics.refused_per_ip_total++;
		conn_respond(c, 429, "application/json; charset=utf-8",
		             "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many connections from this address\"}}",
		             "Retry-After: 5\r\n");
		return -1;
	}
	ip_release(c->ip);
	c->ip = ip;
	return 0;
}

/* Seconds a WebSocket opened without credentials has to send its auth message. */
#define AUTH_MSG_TIMEOUT 10.0

static void auth_start(struct conn *c, const struct http_route *rt, int ticket, const char *tok);

/* The auth query is about to go: CS_AUTH, or (first-message auth, the WebSocket already
 * open) CS_WS with auth_msg 2. */
static void auth_wait(struct conn *c)
{
	if (c->auth_msg)
		c->auth_msg = 2;
	else
		conn_set_state(c, CS_AUTH);
	c->pending_jobs++;
}

static void conn_on_request(struct conn *c)
{
	struct http_req *r = c->req;
	struct http_route rt;
	if (conn_forwarded_for(c) != 0)
		return;
	if (log_enabled(LOG_LVL_DEBUG)) {
		/* Tokens and tickets of the query string never reach the log. */
		char safe[HTTP_URL_MAX + 32];
		log_redact(r->url, safe, sizeof(safe));
		conn_log(c, LOG_LVL_DEBUG, "request %s", safe);
	}
	http_route_parse(r->url, &rt);

	if (r->method != HTTP_GET) {
		conn_error(c, 405, "method_not_allowed", "only GET is served here", NULL);
		return;
	}
	if (rt.transport == ROUTE_NONE) {
		conn_error(c, 404, "not_found", "no such stream", NULL);
		return;
	}
	if (rt.transport == ROUTE_HEALTH) {
		char *body = metrics_health(pgfeed_listen_up(), pgfeed_query_up(), conn_redis_state());
		int ok = pgfeed_listen_up() && pgfeed_query_up();
		conn_respond(c, ok ? 200 : 503, "application/json; charset=utf-8", body, NULL);
		free(body);
		return;
	}
	if (rt.transport == ROUTE_METRICS) {
		char *body = metrics_render(pgfeed_listen_up(), pgfeed_query_up(), hub_chan_count(),
		                            pgfeed_queue_len(), pgfeed_reconnects());
		conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, NULL);
		free(body);
		return;
	}
	if (rt.transport == ROUTE_WS) {
		char accept[WS_ACCEPT_LEN + 1];
		if (!http_has_token(r->upgrade, "websocket") || !http_has_token(r->connection, "upgrade")) {
			conn_error(c, 400, "validation_failed", "a WebSocket upgrade is required here", NULL);
			return;
		}
		if (strcmp(r->ws_version, "13") != 0) {
			conn_respond(c, 426, "application/json; charset=utf-8",
			             "{\"error\":{\"code\":\"validation_failed\",\"message\":\"WebSocket version 13 required\"}}",
			             "Sec-WebSocket-Version: 13\r\n");
			return;
		}
		if (ws_accept_key(r->ws_key, accept) != 0) {
			conn_error(c, 400, "validation_failed", "bad Sec-WebSocket-Key", NULL);
			return;
		}
		set_transport(c, TR_WS);
	} else {
		set_transport(c, TR_SSE);
	}

	/* The Origin goes to PostgreSQL as text (widget streams): bytes that are not UTF-8
	 * would make the query fail (503). Refused here, before any query, on every stream. */
	if (r->origin[0] && !utf8_valid(r->origin, strlen(r->origin))) {
		refuse_early(c, 403, "the Origin header is not valid UTF-8");
		return;
	}

	c->dialog_id = rt.dialog_id;
	if (parse_cursor(r->url, r, rt.transport == ROUTE_SSE, &c->since) != 0) {
		if (c->transport == TR_WS) {
			ws_accept_reply(c);
			ws_session_close(&c->ws, 1008, "bad since");
			conn_set_state(c, CS_WS_CLOSING);
		} else {
			conn_error(c, 400, "validation_failed", "the cursor must be a non-negative integer", "since");
		}
		return;
	}

	char tok[128];
	tok[0] = '\0';
	/* A single-use stream ticket (POST /api/stream-tickets) stands for the token: the
	 * clients we ship keep their tokens out of URLs; ?token= / ?visitor_token= still work. */
	int tr = http_query_param(r->url, "ticket", tok, sizeof(tok));
	int ticket = tr != -1;
	if (ticket && (tr < 0 || !token_well_formed(tok))) {
		memset(tok, 0, sizeof(tok));
		refuse_early(c, 401, "invalid or expired ticket");
		return;
	}
	if (!ticket) {
		int n = http_query_param(r->url, rt.channel == CHAN_SITE ? "visitor_token" : "token", tok, sizeof(tok));
		if (n == -1 && c->transport == TR_WS) {
			/* Nothing in the URL: the WebSocket opens and its first message must be
			 * {"type":"auth","token"|"visitor_token"|"ticket":...} (auth_message). */
			ws_accept_reply(c);
			c->ws_accepted = 1;
			c->auth_msg = 1;
			conn_set_state(c, CS_WS);
			loop_timer_again(&c->timer, AUTH_MSG_TIMEOUT);
			return;
		}
		if (n < 0 || !token_well_formed(tok)) {
			memset(tok, 0, sizeof(tok));
			refuse_early(c, 401, rt.channel == CHAN_SITE ? "visitor_token required" : "token required");
			return;
		}
	}
	auth_start(c, &rt, ticket, tok);
	memset(tok, 0, sizeof(tok));
}

/* The first message of a WebSocket opened without credentials in its URL. */
static void auth_message(struct conn *c, cJSON *o)
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
		auth_refuse(c, 401, "the first message must be {\"type\":\"auth\",...}");
		flush_schedule(c);
		return;
	}
	auth_start(c, &rt, ticket, v);
	flush_schedule(c);
}

/* Sends the auth query of a stream: tok is a ticket (ticket != 0), a bearer token or a
 * visitor token, checked well formed. */
static void auth_start(struct conn *c, const struct http_route *rtp, int ticket, const char *tok)
{
	struct http_req *r = c->req;
	struct http_route rt = *rtp;
	char hash[TOKEN_HASH_CHARS + 1];
	const char *params[3];
	char d[24];
	snprintf(d, sizeof(d), "%lld", (long long)rt.dialog_id);
	c->expires_at = 0;
	if (rt.channel == CHAN_SITE) {
		char aid[32];
		c->is_visitor = 1;
		if (http_query_param(r->url, "assistant_id", aid, sizeof(aid)) < 0 ||
		    parse_int64(aid, 1, INT64_MAX, &c->assistant_id) != 0) {
			refuse_early(c, 403, "assistant_id required");
			return;
		}
		token_hash(tok, hash);
		params[0] = d;
		params[1] = hash;
		if (pgfeed_queue_len() >= QUERY_QUEUE_MAX) {
			refuse_early(c, 503, "server busy: try again");
			return;
		}
		c->auth_hash = xstrdup(hash);
		hub_sub_join(&c->sub, CHAN_SITE, rt.dialog_id);
		auth_wait(c);
		pgfeed_query(ticket ? auth_visitor_ticket_sql : auth_visitor_sql, ticket ? 2 : 1, params, 0,
		             auth_done, c);
	} else {
		if (pgfeed_queue_len() >= QUERY_QUEUE_MAX) {
			refuse_early(c, 503, "server busy: try again");
			return;
		}
		token_hash(tok, hash);
		params[0] = hash;
		params[1] = rt.channel == CHAN_INBOX ? "0" : d;
		hub_sub_join(&c->sub, rt.channel, rt.dialog_id);
		auth_wait(c);
		pgfeed_query(ticket ? auth_operator_ticket_sql : auth_operator_sql, 2, params, 0, auth_done, c);
	}
}

/* ---- I/O callbacks ------------------------------------------------------------ */

static void conn_input(struct conn *c, const uint8_t *data, size_t n)
{
	switch (c->state) {
	case CS_HANDSHAKE: {
		size_t used;
		enum http_feed f = http_req_feed(c->req, (const char *)data, n, &used);
		if (f == HTTP_ERROR) {
			int st = c->req->status;
			conn_error(c, st, "validation_failed",
			           st == 431 ? "request head too large" : st == 414 ? "URL too long" : "malformed request",
			           NULL);
		} else if (f == HTTP_DONE) {
			conn_on_request(c);
		}
		break;
	}
	case CS_WS:
		c->last_rx = loop_now();
		if (ws_session_feed(&c->ws, data, n) == WS_CLOSED) {
			/* The peer closed (answered), or we refused a frame: fail the connection
			 * (RFC 6455 7.1.7) once the close frame has gone out. */
			conn_set_state(c, CS_DRAIN);
			break;
		}
		/* The pong of the feed went out through ws_out(): it counts now. */
		check_caps(c);
		break;
	case CS_WS_CLOSING: {
		uint16_t code;
		(void)ws_scan_feed(&c->ws.scan, data, n, &code);
		if (c->ws.scan.saw_close || code) {
			c->peer_closed_ws = 1;
			if (outq_empty(&c->out))
				conn_close(c, "close handshake done");
		}
		break;
	}
	default:
		break; /* AUTH, SSE: nothing is expected from the client */
	}
}

static void conn_read_cb(void *data, int events)
{
	struct conn *c = data;
	for (int rounds = 0; rounds < 4 && c->state != CS_DEAD; rounds++) {
		ssize_t n = read(c->fd, rbuf, sizeof(rbuf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c, "read error");
			return;
		}
		if (n == 0) {
			conn_close(c, "peer closed");
			return;
		}
		conn_input(c, rbuf, (size_t)n);
		if ((size_t)n < sizeof(rbuf))
			return;
	}
}

static void conn_write_cb(void *data, int events)
{
	conn_flush(data);
}

static void conn_timer_cb(void *data)
{
	struct conn *c = data;
	double now = loop_now();
	switch (c->state) {
	case CS_HANDSHAKE:
	case CS_AUTH:
		conn_close(c, "handshake timeout");
		break;
	case CS_WS:
		if (c->auth_msg) {
			/* No auth message in time (1), or its query unanswered (2). */
			auth_refuse(c, c->auth_msg == 1 ? 401 : 503, c->auth_msg == 1 ? "no auth message" : "auth timeout");
			flush_schedule(c);
			break;
		}
		if (c->expires_at > 0 && now >= c->expires_at - 0.01) {
			conn_end_session(c, "session expired");
			break;
		}
		if (now - c->last_rx >= cfg.peer_timeout) {
			conn_close(c, "peer silent");
			break;
		}
		{
			uint8_t ping[10];
			size_t hl = ws_frame_header(ping, WS_OP_PING, 0);
			conn_queue_copy(c, ping, hl);
		}
		check_caps(c);
		if (c->state == CS_WS)
			conn_arm(c, cfg.ping_interval);
		break;
	case CS_SSE: {
		if (c->expires_at > 0 && now >= c->expires_at - 0.01) {
			conn_end_session(c, "session expired");
			break;
		}
		char p[16];
		size_t n = sse_ping(p, sizeof(p));
		conn_queue_copy(c, p, n);
		check_caps(c);
		if (c->state == CS_SSE)
			conn_arm(c, cfg.sse_ping_interval);
		break;
	}
	default:
		conn_close(c, "linger over");
		break;
	}
}

static void conn_new(int fd, const struct sockaddr_storage *ss)
{
	uint8_t peer[16];
	ss_addr(ss, peer);
	/* A trusted proxy carries many clients: they are counted by X-Forwarded-For once the
	 * request head is read (conn_forwarded_for). Others count per /64 (IPv6: one client
	 * holds a whole /64) or per IPv4 address. */
	int trusted = is_trusted(peer);
	if (!trusted)
		addr_prefix64(peer);
	struct ip_count *ip = ip_take(peer, !trusted);
	if (!ip) {
		static const char busy[] = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json; charset=utf-8\r\n"
		                           "Content-Length: 87\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
		                           "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many connections from this address\"}}";
		metrics.refused_per_ip_total++;
		ssize_t w = write(fd, busy, sizeof(busy) - 1);
		(void)w;
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg.sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cfg.sndbuf, sizeof(cfg.sndbuf));
	struct conn *c = xcalloc(1, sizeof(*c));
	c->id = next_id++;
	c->fd = fd;
	c->ip = ip;
	c->since = -1;
	c->transport = TR_HTTP;
	metrics.conns_http++;
	metrics.accepted_total++;
	c->req = http_req_new();
	loop_io_init(&c->rio, fd, LOOP_READ, conn_read_cb, c);
	loop_io_init(&c->wio, fd, LOOP_WRITE, conn_write_cb, c);
	loop_timer_init(&c->timer, conn_timer_cb, c);
	c->next = all_conns;
	if (all_conns)
		all_conns->prev = c;
	all_conns = c;
	n_conns++;
	c->state = CS_HANDSHAKE;
	loop_io_start(&c->rio);
	loop_timer_again(&c->timer, cfg.handshake_timeout);
}

static void accept_resume(void *data)
{
	loop_timer_stop(&accept_pause);
	if (shutting_down)
		return;
	for (int i = 0; i < n_listeners; i++)
		loop_io_start(&listeners[i]);
}

static void accept_cb(void *data, int events)
{
	struct loop_io *l = data;
	int lfd = l->w.fd;
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: stop accepting for a moment instead of spinning. */
				log_warn("accept: %s; pausing accepts for 1 s", strerror(errno));
				for (int j = 0; j < n_listeners; j++)
					loop_io_stop(&listeners[j]);
				loop_timer_again(&accept_pause, 1.0);
			}
			return;
		}
		conn_new(fd, &ss);
	}
}

/* ---- the loop hook: flush and reap -------------------------------------------- */

static void prepare_hook(void)
{
	send_clock_left = 0;
	while (flush_list) {
		struct conn *c = flush_list;
		flush_list = c->flush_next;
		c->in_flush = 0;
		c->flush_next = NULL;
		conn_flush(c);
	}
	struct conn **pp = &reap_list;
	while (*pp) {
		struct conn *c = *pp;
		if (c->pending_jobs || c->in_flush) {
			pp = &c->reap_next;
			continue;
		}
		*pp = c->reap_next;
		conn_free(c);
	}
	trim_maybe();
	ip_sweep();
	send_clock_left = 0;
	if (shutting_down && n_conns == 0)
		loop_break();
}

/* ---- listening ---------------------------------------------------------------- */

static int listen_one(const char *spec)
{
	char host[256];
	const char *port;
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec)
		return -1;
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	port = colon + 1;
	int64_t p;
	if (parse_int64(port, 1, 65535, &p) != 0)
		return -1;

	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		sl = sizeof(*s6);
	} else {
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 4096) != 0) {
		log_error("listen %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	if (n_listeners >= MAX_LISTENERS) {
		close(fd);
		return -1;
	}
	struct loop_io *l = &listeners[n_listeners++];
	loop_io_init(l, fd, LOOP_READ, accept_cb, l);
	loop_io_start(l);
	log_info("listening on %s", spec);
	return 0;
}

int conn_listen(const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL;
	int rc = 0, n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (listen_one(tok) != 0) {
			log_error("cannot listen on '%s'", tok);
			rc = -1;
		}
		n++;
	}
	free(copy);
	return n ? rc : -1;
}

void conn_init(const struct conn_settings *st)
{
	cfg = *st;
	log_info("a connection costs %zu bytes of struct plus its queue when it has output", sizeof(struct conn));
	hub_init(&hub_ops);
	loop_timer_init(&accept_pause, accept_resume, NULL);
	loop_on_prepare(prepare_hook);
}

static const char *conn_redis_state(void)
{
	return redis_state_fn ? redis_state_fn() : "off";
}

void conn_set_redis_state(const char *(*fn)(void))
{
	redis_state_fn = fn;
}

size_t conn_count(void)
{
	return n_conns;
}

void conn_shutdown(void)
{
	shutting_down = 1;
	for (int i = 0; i < n_listeners; i++) {
		loop_io_stop(&listeners[i]);
		close(listeners[i].w.fd);
	}
	n_listeners = 0;
	for (struct conn *c = all_conns; c; c = c->next) {
		if (c->state == CS_WS) {
			ws_session_close(&c->ws, 1001, "server shutting down");
			conn_set_state(c, CS_WS_CLOSING);
			flush_schedule(c);
		} else if (c->state == CS_SSE) {
			conn_set_state(c, CS_DRAIN);
			flush_schedule(c);
		} else if (c->state == CS_HANDSHAKE || c->state == CS_AUTH) {
			conn_close(c, "shutting down");
		}
	}
}

void conn_free_all(void)
{
	for (struct conn *c = all_conns; c; c = c->next)
		conn_close(c, "exit");
	while (all_conns) {
		struct conn *c = all_conns;
		conn_free(c);
	}
	reap_list = flush_list = NULL;
	free(revoked);
	revoked = NULL;
	obuf_unref(app_pong);
	app_pong = NULL;
	n_revoked = cap_revoked = 0;
	for (int i = 0; i < IP_BUCKETS; i++) {
		while (ip_table[i]) {
			struct ip_count *e = ip_table[i];
			ip_table[i] = e->next;
			free(e);
		}
	}
}
