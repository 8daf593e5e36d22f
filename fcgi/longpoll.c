/* SPDX-License-Identifier: MIT */
/* longpoll: the hub of waiting requests (see longpoll.h for the design): parking a
 * request, and the completion threads that query and answer (the dispatcher thread is
 * lpdispatch.c). */
#include "autoconfig.h"
#include "longpoll.h"
#include "lphub.h"
#include "authcache.h"
#include "dbpool.h"
#include "json.h"
#include "log.h"
#include "lpaddr.h"
#include "lpnote.h"
#include "pollmode.h"
#include "request.h"
#include "router.h"
#include "appcfg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static pthread_once_t hub_once = PTHREAD_ONCE_INIT;

/* Run q's query (its resource's fetch). */
static int lpq_fetch(struct db *db, struct lp_query *q, char **json, int *empty)
{
	*json = NULL;
	*empty = 1;
	return q->ops->fetch(db, q, json, empty);
}

static void waiter_free(struct waiter *w)
{
	transport_finish_free(w->transport);
	free(w->cors_origin);
	free(w->pre_json);
	struct lp_addr *addr = w->addr;
	free(w);
	pthread_mutex_lock(&lp_hub.mu);
	lp_addr_release(addr);
	if (--lp_hub.owned == 0)
		pthread_cond_broadcast(&lp_hub.idle_cv);
	pthread_mutex_unlock(&lp_hub.mu);
}

/* Answer a parked request and let it go. */
static void waiter_answer(struct waiter *w, struct db *db, int status, char *body, int db_failed)
{
	struct req r;
	memset(&r, 0, sizeof r);
	r.transport = w->transport;
	r.db = db;
	r.cors_origin = w->cors_origin;
	w->cors_origin = NULL;
	pollmode_header_as(&r, 0);
	if (db_failed)
		http_db_error(&r, "long-poll");
	else
		http_json(&r, status, body);
	free(body);
	http_send(&r);
	req_free(&r);
	waiter_free(w);
}

/* Wake the dispatcher (its event fd): new waiters are pending, or the process stops. */
static void hub_wake(void)
{
	uint64_t one = 1;
	if (write(lp_hub.efd, &one, sizeof one) < 0)
		log_warn("longpoll: eventfd write: %s", strerror(errno));
}

/* Hand w to the dispatcher (mu held; hub_wake() once mu is released). */
static void pending_push_locked(struct waiter *w)
{
	w->next = lp_hub.pending;
	lp_hub.pending = w;
}

static void repark(struct waiter *w)
{
	pthread_mutex_lock(&lp_hub.mu);
	pending_push_locked(w);
	pthread_mutex_unlock(&lp_hub.mu);
	hub_wake();
}

/* Do a and b ask the same question (so one query answers both)? */
static int same_query(const struct lp_query *a, const struct lp_query *b)
{
	return a->ops == b->ops && a->dialog_id == b->dialog_id && a->every_audience == b->every_audience &&
	       memcmp(a->arg, b->arg, sizeof a->arg) == 0;
}

/* Take from the ready queue (mu held) every waiter asking what w asks. */
static struct waiter *take_same_locked(const struct waiter *w)
{
	struct waiter *head = NULL, **tail = &head, *prev = NULL;
	for (struct waiter *x = lp_hub.ready_head, *next; x; x = next) {
		next = x->next;
		if (!x->gone && !x->pre_json && same_query(&x->q, &w->q)) {
			if (prev)
				prev->next = next;
			else
				lp_hub.ready_head = next;
			if (lp_hub.ready_tail == x)
				lp_hub.ready_tail = prev;
			x->next = NULL;
			*tail = x;
			tail = &x->next;
		} else {
			prev = x;
		}
	}
	return head;
}

/* A link that is never connected: the answer for "no link came free". */
static struct db db_busy = { .status = DB_DOWN };

/* Take the next ready waiter (blocks) with, unless it is gone or answered already,
 * every other ready waiter asking the same: when a dialog changes, every waiter on it
 * with the same cursor and audience gets the answer of ONE query. */
static struct waiter *ready_take_group(void)
{
	pthread_mutex_lock(&lp_hub.mu);
	while (!lp_hub.ready_head)
		pthread_cond_wait(&lp_hub.ready_cv, &lp_hub.mu);
	struct waiter *w = lp_hub.ready_head;
	lp_hub.ready_head = w->next;
	if (!lp_hub.ready_head)
		lp_hub.ready_tail = NULL;
	w->next = NULL;
	if (!w->gone && !w->pre_json)
		w->next = take_same_locked(w);
	pthread_mutex_unlock(&lp_hub.mu);
	return w;
}

/* A big group (many screens on one dialog) of n waiters: the other completion threads
 * answer part of it at the same time, with the same bytes (json). */
static void group_share(struct waiter *w, size_t n, const char *json)
{
	size_t keep = n / (size_t)lp_hub.workers, i = 0;
	struct waiter *x = w, *rest = NULL;
	for (; x && i + 1 < keep; x = x->next, i++)
		;
	if (x) {
		rest = x->next;
		x->next = NULL;
	}
	struct waiter *rh = NULL, *rt = NULL;
	for (struct waiter *y = rest; y; y = y->next) {
		y->pre_json = xstrdup(json);
		rt = y;
		if (!rh)
			rh = y;
	}
	if (!rh)
		return;
	pthread_mutex_lock(&lp_hub.mu);
	rt->next = lp_hub.ready_head;
	lp_hub.ready_head = rh;
	if (!lp_hub.ready_tail)
		lp_hub.ready_tail = rt;
	pthread_cond_broadcast(&lp_hub.ready_cv);
	pthread_mutex_unlock(&lp_hub.mu);
}

/* The outcome of one fetch for a group of waiters. */
struct fetched {
	int rc;           /* lpq_fetch's */
	char *json;
	int empty;
	uint64_t gen;     /* the generation read before the fetch */
	int64_t now;      /* when the group was taken */
	struct db *db;    /* for the answer: db_busy once the link went back */
};

/* Answer every waiter of the group w (or park it again when there is nothing yet). */
static void group_answer(struct waiter *w, const struct fetched *f)
{
	for (struct waiter *x = w, *next; x; x = next) {
		next = x->next;
		x->next = NULL;
		if (x != w) {
			/* A fetch may advance the query (the inbox cursor): the group shares it. */
			memcpy(x->q.arg, w->q.arg, sizeof x->q.arg);
			x->q.recheck = w->q.recheck;
		}
		if (f->rc == DB_ROW_FAILED) {
			waiter_answer(x, f->db, 0, NULL, 1);
		} else if (f->rc == DB_ROW_NONE) {
			waiter_answer(x, f->db, 404, json_error("not_found", x->q.ops->missing, NULL), 0);
		} else if (!f->empty || now_ms() >= x->deadline_ms) {
			waiter_answer(x, f->db, 200, xstrdup(f->json), 0);
		} else {
			x->gen = f->gen;
			x->fired = 0;
			x->wake_ms = x->deadline_ms;
			if (x->q.recheck && f->now + 100 < x->wake_ms)
				x->wake_ms = f->now + 100;
			repark(x);
		}
	}
}

static void *completion_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct waiter *w = ready_take_group();
		if (w->gone) {
			log_debug("longpoll: the web server closed a waiting request (client gone)");
			free(w->pre_json);
			w->pre_json = NULL;
			waiter_free(w);
			continue;
		}
		if (w->pre_json) {
			/* Part of a group whose answer another thread fetched. */
			char *body = w->pre_json;
			w->pre_json = NULL;
			waiter_answer(w, &db_busy, 200, body, 0);
			continue;
		}
		struct fetched f = { .rc = -1, .empty = 1, .now = now_ms(), .gen = lp_generation() };
		struct db *db = dbpool_get();
		if (db)
			f.rc = lpq_fetch(db, &w->q, &f.json, &f.empty);
		f.db = db ? db : &db_busy;
		if (db && f.rc != -1) {
			/* Answering needs no link: give it back before the (long) answering. */
			dbpool_put(db);
			db = NULL;
			f.db = &db_busy;
		}
		size_t n = 0;
		for (struct waiter *x = w; x; x = x->next)
			n++;
		if (f.rc == 0 && !f.empty && n > 64 && lp_hub.workers > 1)
			group_share(w, n, f.json);
		int64_t t0 = now_ms();
		group_answer(w, &f);
		if (n > 64)
			log_debug("longpoll: %zu waiters with one question: one query, answered in %lld ms", n,
			          (long long)(now_ms() - t0));
		free(f.json);
		dbpool_put(db);
	}
	return NULL;
}

static void hub_start_once(void)
{
	lp_hub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lp_hub.efd < 0) {
		log_error("longpoll: eventfd: %s", strerror(errno));
		return;
	}
	if (lp_dispatch_init() < 0)
		return;
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, lp_dispatcher_main, NULL) != 0) {
		log_error("longpoll: cannot start the dispatcher thread");
		pthread_attr_destroy(&attr);
		return;
	}
	for (int i = 0; i < lp_hub.workers; i++)
		if (pthread_create(&t, &attr, completion_main, NULL) != 0)
			log_error("longpoll: cannot start a completion thread");
	pthread_attr_destroy(&attr);
	lp_hub.started = 1;
}

static char *hub_url_init;
static int hub_workers_init = 2;
static int64_t hub_max_init = 1000;

void lp_start(const char *database_url, int workers, int64_t max_parked)
{
	free(hub_url_init);
	hub_url_init = xstrdup(database_url ? database_url : "");
	hub_workers_init = workers < 1 ? 1 : workers;
	hub_max_init = max_parked;
}

/* The threads start with the first request that needs them (CGI answers most requests
 * without ever starting them), or at once via lp_start_now(). */
static void hub_ensure(void)
{
	pthread_mutex_lock(&lp_hub.mu);
	if (!lp_hub.url) {
		lp_hub.url = xstrdup(hub_url_init ? hub_url_init : "");
		lp_hub.workers = hub_workers_init;
		lp_hub.max = hub_max_init;
	}
	pthread_mutex_unlock(&lp_hub.mu);
	pthread_once(&hub_once, hub_start_once);
}

void lp_start_now(void)
{
	hub_ensure();
}

uint64_t lp_generation(void)
{
	pthread_mutex_lock(&lp_hub.mu);
	uint64_t g = lp_hub.gen;
	pthread_mutex_unlock(&lp_hub.mu);
	return g;
}

/* What park() did; all but PARKED take nothing (the caller answers). */
enum park_result {
	PARKED = 0,
	PARK_FULL = -1,       /* the hub is full, or not started */
	PARK_STOPPING = -2,   /* the process is stopping */
	PARK_ADDR_LIMIT = -3, /* addr_key has fcgi_longpoll_max_per_ip parked already */
};

/* Hand a request over: tr (heap allocated, with its FCGX_Request) and q are the hub's
 * from now on; cors_origin (may be NULL) is copied. addr_key NULL: not counted. */
static enum park_result park(struct transport *tr, const struct lp_query *q, uint64_t gen, int64_t deadline_ms,
                const char *cors_origin, const char *addr_key)
{
	hub_ensure();
	pthread_mutex_lock(&lp_hub.mu);
	if (lp_hub.stopping) {
		pthread_mutex_unlock(&lp_hub.mu);
		return PARK_STOPPING;
	}
	if (!lp_hub.started || lp_hub.owned >= lp_hub.max) {
		pthread_mutex_unlock(&lp_hub.mu);
		return PARK_FULL;
	}
	struct lp_addr *addr = NULL;
	if (addr_key && !(addr = lp_addr_take(addr_key, app_cfg.longpoll_max_per_ip))) {
		pthread_mutex_unlock(&lp_hub.mu);
		return PARK_ADDR_LIMIT;
	}
	lp_hub.owned++;
	struct waiter *w = xcalloc(1, sizeof *w);
	w->addr = addr;
	w->transport = tr;
	w->q = *q;
	w->gen = gen;
	w->deadline_ms = deadline_ms;
	w->wake_ms = deadline_ms;
	if (q->recheck && now_ms() + 100 < deadline_ms)
		w->wake_ms = now_ms() + 100;
	w->cors_origin = cors_origin ? xstrdup(cors_origin) : NULL;
	pending_push_locked(w);
	pthread_mutex_unlock(&lp_hub.mu);
	hub_wake();
	return PARKED;
}

void lp_stop(void)
{
	pthread_mutex_lock(&lp_hub.mu);
	lp_hub.stopping = 1;
	int started = lp_hub.started;
	pthread_mutex_unlock(&lp_hub.mu);
	if (started)
		hub_wake();
}

int lp_idle(void)
{
	pthread_mutex_lock(&lp_hub.mu);
	int idle = lp_hub.owned == 0;
	pthread_mutex_unlock(&lp_hub.mu);
	return idle;
}

void lp_drain(void)
{
	pthread_mutex_lock(&lp_hub.mu);
	while (lp_hub.owned > 0)
		pthread_cond_wait(&lp_hub.idle_cv, &lp_hub.mu);
	pthread_mutex_unlock(&lp_hub.mu);
}

int lp_serve(struct req *r, struct lp_query *q, int64_t wait_s)
{
	/* The generation comes first: a notification after this point wakes the request
	 * even if it arrives before the request is parked. */
	uint64_t gen = lp_generation();
	/* Where a process serves one request at a time, a wait would hold it: answer at
	 * once, and say so (the clients then poll briefly). */
	pollmode_header(r);
	if (wait_s > 0 && pollmode_short(r))
		wait_s = 0;
	char *json = NULL;
	int empty = 1;
	int rc = lpq_fetch(r->db, q, &json, &empty);
	if (rc == DB_ROW_FAILED)
		return http_db_error(r, "long-poll read");
	if (rc == DB_ROW_NONE)
		return http_error(r, 404, "not_found", q->ops->missing, NULL);
	if (!empty || wait_s <= 0) {
		http_json_take(r, 200, json);
		return ROUTE_DONE;
	}
	char addr[80];
	addr_limit_key(r->remote_addr ? r->remote_addr : "-", addr, sizeof addr); /* IPv6: its /64 */
	enum park_result parked = park(r->transport, q, gen, now_ms() + wait_s * 1000, r->cors_origin, addr);
	if (parked == PARKED) {
		free(json);
		return ROUTE_PARKED;
	}
	if (parked == PARK_STOPPING) {
		/* Stopping: nothing new now; the client polls again (another process). */
		http_json_take(r, 200, json);
		return ROUTE_DONE;
	}
	free(json);
	if (parked == PARK_ADDR_LIMIT) {
		/* One address holds fcgi_longpoll_max_per_ip waiting requests already. */
		http_header(r, "Retry-After", "5");
		return http_error(r, 429, "rate_limited", "too many waiting requests from this address",
				  NULL);
	}
	http_header(r, "Retry-After", "1");
	return http_error(r, 503, "unavailable", "too many waiting requests, try again shortly", NULL);
}
