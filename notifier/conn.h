/* SPDX-License-Identifier: MIT */
/*
 * conn: client connections of the notifier, from accept() to close. This header is
 * what main.c sees; the files of the connection layer share notifier/client.h (struct
 * client, the transport operations table, and the map of those files).
 *
 * Lifecycle (one enum, changed only by conn_set_state(), which also arms the timer and
 * the read watcher for the new state):
 *
 *   HANDSHAKE --request--> AUTH --allowed--> OPEN (WebSocket or SSE: the client's transport)
 *       |                   |                   |
 *       +-- status/health --+-- refused ------> DRAIN (answer queued, close when flushed)
 *                           +-- ws refused ---> CLOSING (close frame sent, waiting for
 *                                               the peer's close frame or the linger timer)
 *   any state --conn_close(c, reason)--> DEAD: fd closed at once, memory freed later from
 *   the loop (never inside the connection's own callback, nor while a query still
 *   refers to it).
 *
 * Output: events are appended to the connection's outq; every connection with output is
 * flushed once per loop iteration from the prepare hook with one writev(); the write
 * watcher runs only while bytes are left over. The queue is bounded: past the hard cap
 * at once, or past the soft cap for longer than the soft limit, the connection is a slow
 * reader and is closed (WebSocket 1013, SSE end of stream); it resumes with its cursor.
 *
 * One timer per connection (ev_timer_again): handshake timeout, then WebSocket pings
 * and the dead-peer check, or SSE `: ping` comments, never later than the operator
 * session's expiry (the stream ends there with 4401), then the closing linger.
 *
 * Input from a client is bounded too: pings read together get one pong, typing goes
 * through the REST rules (closed dialog, rate_limit_typing per address) and is shed
 * when the query queue is long, and new streams are refused when it is full.
 */
#ifndef CHATAI_CONN_H
#define CHATAI_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct conn_settings {
	double ping_interval;     /* notifier_ping_interval, s */
	double peer_timeout;      /* notifier_peer_timeout, s */
	double sse_ping_interval; /* notifier_sse_ping_interval, s */
	double handshake_timeout; /* notifier_handshake_timeout, s */
	double linger;            /* closing handshake wait, s */
	size_t max_queue;         /* notifier_max_queue: hard cap, bytes */
	size_t soft_queue;        /* notifier_soft_queue: soft cap, bytes */
	double soft_seconds;      /* notifier_soft_queue_seconds */
	unsigned max_per_ip;      /* notifier_max_per_ip */
	unsigned typing_per_minute; /* rate_limit_typing: typing events per address and minute (0: off) */
	int sndbuf;               /* notifier_sndbuf: SO_SNDBUF of client sockets (0: kernel's) */
	unsigned char trusted[8][16]; /* notifier_trusted_proxies: peers whose X-Forwarded-For counts */
	int ntrusted;
};

void conn_init(const struct conn_settings *st);
/* Replace settings (SIGHUP); applies to timers re-armed from now on. */
void conn_settings_set(const struct conn_settings *st);
/* Listen on "host:port,[v6]:port"; 0 or -1 (logged). */
int conn_listen(const char *spec) CHATAI_WUR;
/* SIGTERM: stop accepting, close WebSockets with 1001, end SSE streams. */
void conn_shutdown(void);
/* A session was revoked, deleted or its expiry moved back ({"k":"revoke"}): ask the
 * database again, then end its streams with 4401 (those still authenticating included)
 * or move their expiry. */
void conn_revoke_session(int64_t session_id);
/* The LISTEN link came back (revocations may have been missed): ask again about the
 * session of every open operator stream. */
void conn_recheck_sessions(void);
/* Where /health finds the Redis subscriber's state ("off", "down", "up"). */
void conn_set_redis_state(const char *(*fn)(void));
/* Free everything (after the loop ended). */
void conn_free_all(void);

#endif
