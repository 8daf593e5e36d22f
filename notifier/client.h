/* SPDX-License-Identifier: MIT */
/*
 * client: one client connection of the notifier, and what the files of the connection
 * layer share about it (private to notifier/conn.c, listener.c, request.c, revoke.c and
 * the transport_*.c files; main.c sees only conn.h).
 *
 *   listener.c        accept, listen, the per-address caps, X-Forwarded-For
 *   conn.c            lifecycle: the one state setter, output queue and flush, timers,
 *                     reading, the reaper (see conn.h for the state diagram)
 *   request.c         route one parsed request head (/health, /metrics, /ws, /sse),
 *                     credentials, the auth query and its answer
 *   revoke.c          operator sessions revoked or expired while their streams are open
 *   transport_http.c  plain HTTP answers (refusals, /health, /metrics)
 *   transport_ws.c    WebSocket: 101 answer, frames, pings, close codes, client messages
 *   transport_sse.c   Server-Sent Events: 200 head, events with ids, `: ping` comments
 *
 * Every stream transport is one struct transport_ops (nchan keeps one subscriber
 * interface for all its transports the same way): the connection code calls c->tr->...
 * and never asks which transport it holds.
 */
#ifndef CHATAI_NOTIFIER_CLIENT_H
#define CHATAI_NOTIFIER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "hub.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "outq.h"
#include "ws.h"

enum client_state {
	CS_HANDSHAKE = 0, /* reading the request head */
	CS_AUTH,          /* waiting for the auth query */
	CS_OPEN,          /* stream open (WebSocket or event stream: c->tr) */
	CS_DRAIN,         /* last bytes queued: close once flushed */
	CS_CLOSING,       /* our close frame sent: waiting for the peer's (WebSocket) */
	CS_DEAD,          /* closed, waiting to be freed */
};

struct ip_count {
	uint8_t addr[16];           /* IPv6 or v4-mapped */
	uint32_t n;                 /* open connections from it */
	uint32_t typing_win;        /* minute (wall clock / 60) typing_hits counts in */
	uint32_t typing_hits;       /* typing events from it in that minute (rate_limit_typing) */
	struct ip_count *next;
};

struct client;

/*
 * A transport: how a stream opens, carries events, keeps alive and ends on the wire.
 * Members a transport does not need are NULL (transport_http has no stream at all).
 */
struct transport_ops {
	const char *name;            /* "http", "ws", "sse" (logs) */
	uint64_t *open_count;        /* its gauge in metrics (conns_http/_ws/_sse) */
	int event_id_cursor;         /* Last-Event-ID and ?last_event_id= carry the cursor too */
	/* Checks of the request head before anything is decided (the WebSocket upgrade):
	 * 0, or -1 when already answered with an HTTP error. */
	int (*check)(struct client *c);
	/* Authorised: queue what opens the stream (101 answer, SSE head). */
	void (*open)(struct client *c);
	/* Refuse the stream with an HTTP status (a WebSocket closes with its 44xx code). */
	void (*refuse)(struct client *c, int status, const char *why);
	/* The cursor in the URL is not a non-negative integer. */
	void (*bad_cursor)(struct client *c);
	/* No credentials in the URL: open and wait for them in the first message (NULL
	 * when the transport cannot: the request is refused). */
	void (*await_credentials)(struct client *c);
	/* End an open stream: a WebSocket sends a close frame with code and why, an event
	 * stream just ends (the client's next request learns why). */
	void (*end)(struct client *c, uint16_t code, const char *why);
	/* The event as this transport sends it, encoded once per event (cached in ev->enc). */
	struct obuf *(*encode)(struct hub_event *ev, int chan_kind);
	/* Heartbeat of an open stream (may close the connection: dead peer). */
	void (*keepalive)(struct client *c);
	/* Seconds between heartbeats (a setting: read each time). */
	double (*interval)(void);
	/* Bytes from the client while open or closing (NULL: ignored). */
	void (*input)(struct client *c, const uint8_t *data, size_t n);
};

extern const struct transport_ops transport_http, transport_ws, transport_sse;

/*
 * A fan-out touches, per subscriber, its struct sub and then fd, state, tr, in_flush and
 * the queue head: they come first, side by side (about two cache lines), so that the
 * hub's prefetch of the next subscriber (hub.c, sub_prefetch) brings them in while the
 * current one's send() runs (checked by the _Static_assert below).
 */
struct client {
	struct sub sub;
	uint64_t id;
	int fd;
	uint8_t state;              /* enum client_state, only via conn_set_state() */
	uint8_t in_flush;           /* on the flush list */
	uint8_t peer_closed;        /* the peer's close frame arrived while CLOSING */
	uint8_t is_visitor;
	uint8_t ws_accepted;        /* the 101 answer is queued (first-message auth) */
	uint8_t auth_msg;           /* auth by first message: 1 awaited, 2 query sent */
	uint16_t pending_jobs;      /* queries that will call back with this client */
	const struct transport_ops *tr;
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
	struct client *prev, *next; /* all connections */
	struct client *flush_next;  /* flush list */
	struct client *reap_next;   /* dead list */
};

_Static_assert(offsetof(struct client, out) + sizeof(struct outq) <= HUB_SUB_HOT,
               "the fields a delivery reads must sit in the bytes hub.c prefetches");

/* The query link's queue: typing is shed past QUERY_QUEUE_TYPING jobs, new streams are
 * refused (503 / 1013) past QUERY_QUEUE_MAX. Replays and session checks, which a client
 * cannot multiply, are not counted out. */
#define QUERY_QUEUE_TYPING 256
#define QUERY_QUEUE_MAX 4096

/* The answer to an address over notifier_max_per_ip (three places send it). */
#define TOO_MANY_CONNS_BODY \
	"{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many connections from this address\"}}"

#define conn_log(c, lvl, fmt, ...) \
	do { if (log_enabled(lvl)) log_msg(lvl, "conn %llu: " fmt, (unsigned long long)(c)->id, __VA_ARGS__); } while (0)

/* ---- conn.c ---- */
extern struct conn_settings conn_cfg;
extern struct client *all_clients;
void conn_new(int fd, struct ip_count *ip);
void conn_set_state(struct client *c, enum client_state st);
void conn_set_transport(struct client *c, const struct transport_ops *tr);
void conn_close(struct client *c, const char *reason);
void conn_queue(struct client *c, struct obuf *b);
void conn_queue_copy(struct client *c, const void *data, size_t len);
void conn_flush_schedule(struct client *c);
void conn_check_caps(struct client *c);
/* Heartbeat timer of an open stream: every c->tr->interval(), never past its expiry. */
void conn_arm(struct client *c);
/* End an open stream because its session no longer holds (WebSocket 4401). */
void conn_end_session(struct client *c, const char *why);
/* Where /health finds the Redis subscriber's state ("off", "down", "up"). */
const char *conn_redis_state(void);

/* ---- listener.c ---- */
/* Behind a trusted proxy: count the client of X-Forwarded-For. 0, or -1 (answered 429). */
int listener_forwarded_for(struct client *c);
void listener_ip_release(struct ip_count *e);
/* Forget addresses with no connection and no typing count (at most once a minute). */
void listener_ip_sweep(void);
void listener_ip_free_all(void);
/* Minute of the typing counts of struct ip_count. */
uint32_t listener_typing_minute(void);
void listener_init(void);
void listener_stop(void);

/* ---- request.c ---- */
/* The request head is read: answer it, or start the stream's authentication. */
void request_route(struct client *c);
/* Send the auth query: tok is a ticket (ticket != 0), a bearer or a visitor token. */
void request_auth_start(struct client *c, const struct http_route *rt, int ticket, const char *tok);
/* Refuse the stream being authorised (same answer with or without a query). */
void request_refuse(struct client *c, int status, const char *why);

/* ---- revoke.c ---- */
/* Session sid was found gone a moment ago (an auth answer naming it is refused). */
int revoke_has(int64_t sid);
void revoke_free_all(void);

/* ---- transport_http.c ---- */
void tr_http_respond(struct client *c, int status, const char *ctype, const char *body, const char *extra);
void tr_http_error(struct client *c, int status, const char *code, const char *message, const char *field);
/* An error answer with the code name of status (401 unauthorized, 403 forbidden...). */
void tr_http_refuse(struct client *c, int status, const char *why);

/* ---- transport_ws.c ---- */
void tr_ws_free_all(void);

#endif
