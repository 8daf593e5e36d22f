/* SPDX-License-Identifier: MIT */
/* conn: connection lifecycle, state, output, timers and the reaper (see conn.h, client.h). */
#include "autoconfig.h"
#include "client.h"

#include <errno.h>
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

#include "dlist.h"
#include "metrics.h"
#include "util.h"

static const char *const state_names[] = { "handshake", "auth", "open", "drain", "closing", "dead" };

struct conn_settings conn_cfg;
struct client *all_clients;
static const char *(*redis_state_fn)(void);
static struct client *flush_list, *reap_list;
static size_t n_conns;
static uint64_t next_id = 1;
static int shutting_down;

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

static struct client *client_of_sub(struct sub *s)
{
	return (struct client *)((char *)s - offsetof(struct client, sub));
}

void conn_settings_set(const struct conn_settings *st)
{
	conn_cfg = *st;
}

/* ---- output ------------------------------------------------------------------- */

void conn_flush_schedule(struct client *c)
{
	if (c->in_flush || c->state == CS_DEAD)
		return;
	c->in_flush = 1;
	c->flush_next = flush_list;
	flush_list = c;
}

/* The client does not read: drop what it has not started to receive and end. */
static void conn_slow(struct client *c, const char *why)
{
	metrics.slow_dropped_total++;
	conn_log(c, LOG_LVL_INFO, "slow reader (%zu bytes queued): %s", c->out.bytes, why);
	trim_note(&c->out);
	outq_drop_unstarted(&c->out);
	c->tr->end(c, 1013, "slow reader: resume with since");
	conn_flush_schedule(c);
}

void conn_check_caps(struct client *c)
{
	if (c->state != CS_OPEN)
		return;
	if (c->out.bytes > conn_cfg.max_queue) {
		conn_slow(c, "hard cap");
		return;
	}
	if (c->out.bytes > conn_cfg.soft_queue) {
		double now = loop_now();
		if (c->soft_since == 0)
			c->soft_since = now;
		else if (now - c->soft_since >= conn_cfg.soft_seconds)
			conn_slow(c, "soft cap held too long");
	} else {
		c->soft_since = 0;
	}
}

void conn_queue(struct client *c, struct obuf *b)
{
	if (c->state == CS_DEAD)
		return;
	outq_push(&c->out, b);
	conn_flush_schedule(c);
	conn_check_caps(c);
}

void conn_queue_copy(struct client *c, const void *data, size_t len)
{
	struct obuf *b = obuf_new(data, len, 0);
	conn_queue(c, b);
	obuf_unref(b);
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
static int conn_send_direct(struct client *c, struct obuf *b)
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
	conn_check_caps(c);
	return 1;
}

static void conn_flush(struct client *c)
{
	if (c->state == CS_DEAD)
		return;
	ssize_t r = outq_flush(&c->out, c->fd, flush_done, c);
	if (r == CHATAI_ERR) {
		conn_close(c, "write error");
		return;
	}
	if (c->sub.paused && c->out.bytes < conn_cfg.soft_queue / 4)
		hub_sub_resume(&c->sub);
	if (r == CHATAI_AGAIN) {
		loop_io_start(&c->wio);
		return;
	}
	loop_io_stop(&c->wio);
	c->soft_since = 0;
	if (c->state == CS_DRAIN || (c->state == CS_CLOSING && c->peer_closed))
		conn_close(c, "done");
}

/* ---- state -------------------------------------------------------------------- */

void conn_set_transport(struct client *c, const struct transport_ops *tr)
{
	(*c->tr->open_count)--;
	c->tr = tr;
	(*tr->open_count)++;
}

void conn_arm(struct client *c)
{
	double interval = c->tr->interval();
	if (c->expires_at > 0) {
		double left = c->expires_at - loop_now();
		if (left < interval)
			interval = left > 0.001 ? left : 0.001;
	}
	loop_timer_again(&c->timer, interval);
}

void conn_set_state(struct client *c, enum client_state st)
{
	if (c->state == st || c->state == CS_DEAD)
		return;
	conn_log(c, LOG_LVL_DEBUG, "%s -> %s (%s)", state_names[c->state], state_names[st], c->tr->name);
	c->state = (uint8_t)st;
	switch (st) {
	case CS_HANDSHAKE:
	case CS_AUTH:
		break;
	case CS_OPEN:
		c->last_rx = loop_now();
		loop_io_start(&c->rio);
		conn_arm(c);
		break;
	case CS_DRAIN:
		loop_io_stop(&c->rio);
		loop_timer_again(&c->timer, conn_cfg.linger);
		break;
	case CS_CLOSING:
		c->peer_closed = 0;
		loop_io_start(&c->rio);
		loop_timer_again(&c->timer, conn_cfg.linger);
		break;
	case CS_DEAD:
		break;
	}
}

void conn_close(struct client *c, const char *reason)
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
	listener_ip_release(c->ip);
	c->ip = NULL;
	(*c->tr->open_count)--;
	c->reap_next = reap_list;
	reap_list = c;
}

static void conn_free(struct client *c)
{
	DLIST_UNLINK(all_clients, c);
	http_req_free(c->req);
	free(c->auth_hash);
	n_conns--;
	free(c);
}

/* End an open stream because its session no longer holds: WebSocket close 4401, SSE end
 * of stream (the client's next request gets 401). */
void conn_end_session(struct client *c, const char *why)
{
	conn_log(c, LOG_LVL_INFO, "session %lld: %s", (long long)c->session_id, why);
	if (c->state != CS_OPEN)
		return;
	c->tr->end(c, 4401, why);
	conn_flush_schedule(c);
}

/* ---- the hub's side ------------------------------------------------------------ */

static void conn_deliver(struct sub *s, struct hub_event *ev)
{
	struct client *c = client_of_sub(s);
	if (c->state != CS_OPEN)
		return;
	struct obuf *b = c->tr->encode(ev, s->kind);
	if (!conn_send_direct(c, b))
		conn_queue(c, b);
}

/* Replays fill a queue only up to half the soft cap, then wait for it to drain. */
static int conn_can_take(struct sub *s)
{
	struct client *c = client_of_sub(s);
	return c->state == CS_OPEN && c->out.bytes < conn_cfg.soft_queue / 2;
}

static const struct hub_ops hub_ops = {
	.deliver = conn_deliver, .can_take = conn_can_take, .revoke = conn_revoke_session,
};

/* ---- I/O callbacks ------------------------------------------------------------ */

static void conn_input(struct client *c, const uint8_t *data, size_t n)
{
	if (c->state == CS_HANDSHAKE) {
		size_t used;
		enum http_feed f = http_req_feed(c->req, (const char *)data, n, &used);
		if (f == HTTP_ERROR) {
			int st = c->req->status;
			tr_http_error(c, st, "validation_failed",
			              st == 431 ? "request head too large" : st == 414 ? "URL too long" : "malformed request",
			              NULL);
		} else if (f == HTTP_DONE) {
			request_route(c);
		}
		return;
	}
	/* AUTH, DRAIN: nothing is expected from the client. */
	if ((c->state == CS_OPEN || c->state == CS_CLOSING) && c->tr->input)
		c->tr->input(c, data, n);
}

static void conn_read_cb(void *data, int events)
{
	struct client *c = data;
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
	struct client *c = data;
	switch (c->state) {
	case CS_HANDSHAKE:
	case CS_AUTH:
		conn_close(c, "handshake timeout");
		break;
	case CS_OPEN:
		if (c->auth_msg) {
			/* No auth message in time (1), or its query unanswered (2). */
			request_refuse(c, c->auth_msg == 1 ? 401 : 503, c->auth_msg == 1 ? "no auth message" : "auth timeout");
			conn_flush_schedule(c);
			break;
		}
		if (c->expires_at > 0 && loop_now() >= c->expires_at - 0.01) {
			conn_end_session(c, "session expired");
			break;
		}
		c->tr->keepalive(c);
		conn_check_caps(c);
		if (c->state == CS_OPEN)
			conn_arm(c);
		break;
	default:
		conn_close(c, "linger over");
		break;
	}
}

/* A connection accepted from an address already counted in ip. */
void conn_new(int fd, struct ip_count *ip)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_cfg.sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &conn_cfg.sndbuf, sizeof(conn_cfg.sndbuf));
	struct client *c = xcalloc(1, sizeof(*c));
	c->id = next_id++;
	c->fd = fd;
	c->ip = ip;
	c->since = -1;
	c->tr = &transport_http;
	(*c->tr->open_count)++;
	metrics.accepted_total++;
	c->req = http_req_new();
	loop_io_init(&c->rio, fd, LOOP_READ, conn_read_cb, c);
	loop_io_init(&c->wio, fd, LOOP_WRITE, conn_write_cb, c);
	loop_timer_init(&c->timer, conn_timer_cb, c);
	DLIST_PUSH(all_clients, c);
	n_conns++;
	c->state = CS_HANDSHAKE;
	loop_io_start(&c->rio);
	loop_timer_again(&c->timer, conn_cfg.handshake_timeout);
}

/* ---- the loop hook: flush and reap -------------------------------------------- */

static void prepare_hook(void)
{
	send_clock_left = 0;
	while (flush_list) {
		struct client *c = flush_list;
		flush_list = c->flush_next;
		c->in_flush = 0;
		c->flush_next = NULL;
		conn_flush(c);
	}
	struct client **pp = &reap_list;
	while (*pp) {
		struct client *c = *pp;
		if (c->pending_jobs || c->in_flush) {
			pp = &c->reap_next;
			continue;
		}
		*pp = c->reap_next;
		conn_free(c);
	}
	trim_maybe();
	listener_ip_sweep();
	send_clock_left = 0;
	if (shutting_down && n_conns == 0)
		loop_break();
}

/* ---- the whole set ------------------------------------------------------------ */

void conn_init(const struct conn_settings *st)
{
	conn_cfg = *st;
	log_info("a connection costs %zu bytes of struct plus its queue when it has output", sizeof(struct client));
	hub_init(&hub_ops);
	listener_init();
	loop_on_prepare(prepare_hook);
}

const char *conn_redis_state(void)
{
	return redis_state_fn ? redis_state_fn() : "off";
}

void conn_set_redis_state(const char *(*fn)(void))
{
	redis_state_fn = fn;
}

void conn_shutdown(void)
{
	shutting_down = 1;
	listener_stop();
	for (struct client *c = all_clients; c; c = c->next) {
		if (c->state == CS_OPEN) {
			c->tr->end(c, 1001, "server shutting down");
			conn_flush_schedule(c);
		} else if (c->state == CS_HANDSHAKE || c->state == CS_AUTH) {
			conn_close(c, "shutting down");
		}
	}
}

void conn_free_all(void)
{
	for (struct client *c = all_clients; c; c = c->next)
		conn_close(c, "exit");
	while (all_clients)
		conn_free(all_clients);
	reap_list = flush_list = NULL;
	revoke_free_all();
	tr_ws_free_all();
	listener_ip_free_all();
}
