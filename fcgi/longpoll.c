/* SPDX-License-Identifier: MIT */
/* longpoll: the hub of waiting requests (see longpoll.h for the design). */
#include "autoconfig.h"
#include "longpoll.h"
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
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* One parked request. Owned by the hub: on the pending list, then the dispatcher's
 * waiting list, then the ready queue, then a completion thread. */
struct waiter {
	struct waiter *next, *prev;
	struct transport *transport;
	struct lp_query q;
	uint64_t gen;        /* hub generation read before its last query */
	int64_t deadline_ms; /* the wait ends (monotonic ms) */
	int64_t wake_ms;     /* look again at this time (deadline or an earlier recheck) */
	int fired;           /* a matching notification arrived */
	char *pre_json;      /* the answer, fetched for its group by another thread (owned) */
	int gone;            /* the web server closed the request's link: drop it */
	char *cors_origin;   /* owned */
	struct lp_addr *addr; /* its client address's count (NULL: not counted) */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t ready_cv;  /* completion threads wait on it */
	pthread_cond_t idle_cv;   /* lp_drain waits on it */
	struct waiter *pending;   /* parked, not yet taken by the dispatcher */
	struct waiter *ready_head, *ready_tail;
	uint64_t gen;             /* published generation */
	int64_t owned;            /* requests the hub holds */
	int64_t max;
	int workers;
	int efd;
	int started;
	int stopping;             /* lp_stop() was called */
	char *url;
} hub = { .mu = PTHREAD_MUTEX_INITIALIZER, .ready_cv = PTHREAD_COND_INITIALIZER,
          .idle_cv = PTHREAD_COND_INITIALIZER, .efd = -1 };

static pthread_once_t hub_once = PTHREAD_ONCE_INIT;

/* Dispatcher-only state. */
static struct waiter *waiting;
static size_t nwaiting;
static struct lp_ring ring;

/* Run q's query (its resource's fetch). */
static int lpq_fetch(struct db *db, struct lp_query *q, char **json, int *empty)
{
	*json = NULL;
	*empty = 1;
	return q->ops->fetch(db, q, json, empty);
}

static void note_add(const struct lp_note *in)
{
	struct lp_note n = *in;
	lp_ring_add(&ring, &n);
	for (struct waiter *w = waiting; w; w = w->next)
		if (!w->fired && lp_note_matches(&w->q, &n))
			w->fired = 1;
}

static void waiting_unlink(struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		waiting = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	nwaiting--;
}

static void waiting_push(struct waiter *w)
{
	nwaiting++;
	w->prev = NULL;
	w->next = waiting;
	if (waiting)
		waiting->prev = w;
	waiting = w;
}

/* One payload of channel `chatai`: tell the cache, wake whom it concerns. */
static void payload_note(const char *payload)
{
	cJSON *o = cJSON_Parse(payload);
	if (!o)
		return;
	authcache_event(o);
	struct lp_note n;
	if (lp_note_from_json(o, &n) == 0)
		note_add(&n);
	cJSON_Delete(o);
}

static PGconn *listen_connect(void)
{
	PGconn *c = db_connect_url(hub.url);
	if (!c)
		return NULL;
	PGresult *res = PQexec(c, "LISTEN chatai");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		log_warn("longpoll: LISTEN failed: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* The dispatcher's LISTEN link, and when to try again while there is none. */
struct listen_link {
	PGconn *pg;
	int64_t next_try;
};

static void listen_ensure(struct listen_link *l, int64_t now)
{
	if (l->pg || now < l->next_try)
		return;
	l->pg = listen_connect();
	if (!l->pg) {
		l->next_try = now + 500;
		return;
	}
	authcache_listening(PQsocket(l->pg));
	/* Whatever was committed while we were not listening: everyone looks. */
	struct lp_note all = { .kind = LP_NOTE_ALL };
	note_add(&all);
	log_debug("longpoll: listening on channel chatai"); /* per request under CGI */
}

/* The poll timeout: the first waiter to look at, or the next reconnect (at most 1 s). */
static int dispatch_timeout(const struct listen_link *l, int64_t now)
{
	int timeout = 1000;
	for (struct waiter *w = waiting; w; w = w->next) {
		int64_t t = w->fired ? 0 : w->wake_ms - now;
		if (t < timeout)
			timeout = t < 0 ? 0 : (int)t;
	}
	if (!l->pg && l->next_try - now < timeout)
		timeout = l->next_try - now < 0 ? 0 : (int)(l->next_try - now);
	return timeout;
}

/*
 * Wait on the event fd, the LISTEN link, and every parked FastCGI link: a web server
 * that gives up on a request (its client left) closes that link, and the request is
 * dropped at once instead of holding its socket until the deadline. The revents of the
 * first two go to *ev_efd and *ev_pg.
 */
static void dispatch_poll(const struct listen_link *l, int timeout, short *ev_efd, short *ev_pg)
{
	size_t nfds = 2 + nwaiting;
	struct pollfd *fds = xcalloc(nfds, sizeof *fds);
	struct waiter **by_fd = xcalloc(nfds, sizeof *by_fd);
	fds[0] = (struct pollfd){ hub.efd, POLLIN, 0 };
	fds[1] = (struct pollfd){ l->pg ? PQsocket(l->pg) : -1, POLLIN, 0 };
	size_t k = 2;
	for (struct waiter *w = waiting; w && k < nfds; w = w->next) {
		if (!w->transport->fcgx || w->transport->fcgx->ipcFd < 0)
			continue;
		fds[k] = (struct pollfd){ w->transport->fcgx->ipcFd, POLLRDHUP, 0 };
		by_fd[k++] = w;
	}
	int n = poll(fds, k, timeout);
	if (n < 0 && errno != EINTR)
		log_warn("longpoll: poll: %s", strerror(errno));
	for (size_t i = 2; n > 0 && i < k; i++)
		if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			by_fd[i]->gone = 1;
			by_fd[i]->fired = 1;
		}
	*ev_efd = n > 0 ? fds[0].revents : 0;
	*ev_pg = n > 0 ? fds[1].revents : 0;
	free(fds);
	free(by_fd);
}

/* Read what the LISTEN link has: notifications, or its loss. */
static void listen_read(struct listen_link *l)
{
	authcache_busy(1);
	if (!PQconsumeInput(l->pg) || PQstatus(l->pg) != CONNECTION_OK) {
		log_warn("longpoll: LISTEN link lost: %s", PQerrorMessage(l->pg));
		authcache_listening(-1);
		PQfinish(l->pg);
		l->pg = NULL;
		l->next_try = now_ms() + 250;
	} else {
		PGnotify *nt;
		while ((nt = PQnotifies(l->pg))) {
			payload_note(nt->extra);
			PQfreemem(nt);
		}
	}
	authcache_busy(0);
}

/* Publish the generation; take the newly parked requests into the waiting list (woken
 * at once when they missed their news). When stopping, every wait ends now. */
static void dispatch_take_pending(void)
{
	pthread_mutex_lock(&hub.mu);
	hub.gen = ring.gen;
	struct waiter *p = hub.pending;
	hub.pending = NULL;
	int stop = hub.stopping;
	pthread_mutex_unlock(&hub.mu);
	while (p) {
		struct waiter *next = p->next;
		if (lp_ring_missed(&ring, &p->q, p->gen))
			p->fired = 1;
		waiting_push(p);
		p = next;
	}
	if (stop) {
		int64_t t = now_ms();
		for (struct waiter *w = waiting; w; w = w->next)
			w->deadline_ms = w->wake_ms = t;
	}
}

/* Move what must be looked at (woken, or its time came) to the completion threads. */
static void dispatch_ready(void)
{
	int64_t now = now_ms();
	struct waiter *rh = NULL, *rt = NULL;
	for (struct waiter *w = waiting, *next; w; w = next) {
		next = w->next;
		if (!w->fired && w->wake_ms > now)
			continue;
		waiting_unlink(w);
		if (rt)
			rt->next = w;
		else
			rh = w;
		rt = w;
	}
	if (!rh)
		return;
	pthread_mutex_lock(&hub.mu);
	if (hub.ready_tail)
		hub.ready_tail->next = rh;
	else
		hub.ready_head = rh;
	hub.ready_tail = rt;
	pthread_cond_broadcast(&hub.ready_cv);
	pthread_mutex_unlock(&hub.mu);
}

static void *dispatcher_main(void *arg)
{
	(void)arg;
	struct listen_link l = { NULL, 0 };
	for (;;) {
		int64_t now = now_ms();
		listen_ensure(&l, now);
		short ev_efd, ev_pg;
		dispatch_poll(&l, dispatch_timeout(&l, now), &ev_efd, &ev_pg);
		if (ev_efd & POLLIN) {
			uint64_t v;
			if (read(hub.efd, &v, sizeof v) < 0 && errno != EAGAIN)
				log_warn("longpoll: eventfd read: %s", strerror(errno));
		}
		if (l.pg && ev_pg)
			listen_read(&l);
		dispatch_take_pending();
		dispatch_ready();
	}
	return NULL;
}

static void waiter_free(struct waiter *w)
{
	transport_finish_free(w->transport);
	free(w->cors_origin);
	free(w->pre_json);
	struct lp_addr *addr = w->addr;
	free(w);
	pthread_mutex_lock(&hub.mu);
	lp_addr_release(addr);
	if (--hub.owned == 0)
		pthread_cond_broadcast(&hub.idle_cv);
	pthread_mutex_unlock(&hub.mu);
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
	pollmode_header(&r);
	if (db_failed)
		http_db_error(&r, "long-poll");
	else
		http_json(&r, status, body);
	free(body);
	http_send(&r);
	req_free(&r);
	waiter_free(w);
}

static void repark(struct waiter *w)
{
	pthread_mutex_lock(&hub.mu);
	w->next = hub.pending;
	hub.pending = w;
	pthread_mutex_unlock(&hub.mu);
	uint64_t one = 1;
	if (write(hub.efd, &one, sizeof one) < 0)
		log_warn("longpoll: eventfd write: %s", strerror(errno));
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
	for (struct waiter *x = hub.ready_head, *next; x; x = next) {
		next = x->next;
		if (!x->gone && !x->pre_json && same_query(&x->q, &w->q)) {
			if (prev)
				prev->next = next;
			else
				hub.ready_head = next;
			if (hub.ready_tail == x)
				hub.ready_tail = prev;
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
	pthread_mutex_lock(&hub.mu);
	while (!hub.ready_head)
		pthread_cond_wait(&hub.ready_cv, &hub.mu);
	struct waiter *w = hub.ready_head;
	hub.ready_head = w->next;
	if (!hub.ready_head)
		hub.ready_tail = NULL;
	w->next = NULL;
	if (!w->gone && !w->pre_json)
		w->next = take_same_locked(w);
	pthread_mutex_unlock(&hub.mu);
	return w;
}

/* A big group (many screens on one dialog) of n waiters: the other completion threads
 * answer part of it at the same time, with the same bytes (json). */
static void group_share(struct waiter *w, size_t n, const char *json)
{
	size_t keep = n / (size_t)hub.workers, i = 0;
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
	pthread_mutex_lock(&hub.mu);
	rt->next = hub.ready_head;
	hub.ready_head = rh;
	if (!hub.ready_tail)
		hub.ready_tail = rt;
	pthread_cond_broadcast(&hub.ready_cv);
	pthread_mutex_unlock(&hub.mu);
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
		if (f->rc == -1) {
			waiter_answer(x, f->db, 0, NULL, 1);
		} else if (f->rc == -2) {
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
		if (f.rc == 0 && !f.empty && n > 64 && hub.workers > 1)
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
	hub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (hub.efd < 0) {
		log_error("longpoll: eventfd: %s", strerror(errno));
		return;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, dispatcher_main, NULL) != 0) {
		log_error("longpoll: cannot start the dispatcher thread");
		pthread_attr_destroy(&attr);
		return;
	}
	for (int i = 0; i < hub.workers; i++)
		if (pthread_create(&t, &attr, completion_main, NULL) != 0)
			log_error("longpoll: cannot start a completion thread");
	pthread_attr_destroy(&attr);
	hub.started = 1;
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
	pthread_mutex_lock(&hub.mu);
	if (!hub.url) {
		hub.url = xstrdup(hub_url_init ? hub_url_init : "");
		hub.workers = hub_workers_init;
		hub.max = hub_max_init;
	}
	pthread_mutex_unlock(&hub.mu);
	pthread_once(&hub_once, hub_start_once);
}

void lp_start_now(void)
{
	hub_ensure();
}

uint64_t lp_generation(void)
{
	pthread_mutex_lock(&hub.mu);
	uint64_t g = hub.gen;
	pthread_mutex_unlock(&hub.mu);
	return g;
}

/* Hand a request over: tr (heap allocated, with its FCGX_Request) and q are the hub's
 * from now on; cors_origin (may be NULL) is copied. 0; -1 when the hub is full or not
 * started, -2 when the process is stopping, -3 when addr_key (NULL: not counted) has
 * fcgi_longpoll_max_per_ip parked already (nothing taken: the caller answers). */
static int park(struct transport *tr, const struct lp_query *q, uint64_t gen, int64_t deadline_ms,
                const char *cors_origin, const char *addr_key)
{
	hub_ensure();
	pthread_mutex_lock(&hub.mu);
	if (hub.stopping) {
		pthread_mutex_unlock(&hub.mu);
		return -2;
	}
	if (!hub.started || hub.owned >= hub.max) {
		pthread_mutex_unlock(&hub.mu);
		return -1;
	}
	struct lp_addr *addr = NULL;
	if (addr_key && !(addr = lp_addr_take(addr_key, app_cfg.longpoll_max_per_ip))) {
		pthread_mutex_unlock(&hub.mu);
		return -3;
	}
	hub.owned++;
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
	w->next = hub.pending;
	hub.pending = w;
	pthread_mutex_unlock(&hub.mu);
	uint64_t one = 1;
	if (write(hub.efd, &one, sizeof one) < 0)
		log_warn("longpoll: eventfd write: %s", strerror(errno));
	return 0;
}

void lp_stop(void)
{
	pthread_mutex_lock(&hub.mu);
	hub.stopping = 1;
	int started = hub.started;
	pthread_mutex_unlock(&hub.mu);
	uint64_t one = 1;
	if (started && write(hub.efd, &one, sizeof one) < 0)
		log_warn("longpoll: eventfd write: %s", strerror(errno));
}

int lp_idle(void)
{
	pthread_mutex_lock(&hub.mu);
	int idle = hub.owned == 0;
	pthread_mutex_unlock(&hub.mu);
	return idle;
}

void lp_drain(void)
{
	pthread_mutex_lock(&hub.mu);
	while (hub.owned > 0)
		pthread_cond_wait(&hub.idle_cv, &hub.mu);
	pthread_mutex_unlock(&hub.mu);
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
	if (rc == -1) {
		http_db_error(r, "long-poll read");
		return ROUTE_DONE;
	}
	if (rc == -2) {
		http_error(r, 404, "not_found", q->ops->missing, NULL);
		return ROUTE_DONE;
	}
	if (!empty || wait_s <= 0) {
		http_json_take(r, 200, json);
		return ROUTE_DONE;
	}
	char addr[80];
	addr_limit_key(r->remote_addr ? r->remote_addr : "-", addr, sizeof addr); /* IPv6: its /64 */
	int parked = park(r->transport, q, gen, now_ms() + wait_s * 1000, r->cors_origin, addr);
	if (parked == 0) {
		free(json);
		return ROUTE_PARKED;
	}
	if (parked == -2) {
		/* Stopping: nothing new now; the client polls again (another process). */
		http_json_take(r, 200, json);
		return ROUTE_DONE;
	}
	free(json);
	if (parked == -3) {
		/* One address holds fcgi_longpoll_max_per_ip waiting requests already. */
		http_header(r, "Retry-After", "5");
		http_error(r, 429, "rate_limited", "too many waiting requests from this address", NULL);
		return ROUTE_DONE;
	}
	http_header(r, "Retry-After", "1");
	http_error(r, 503, "unavailable", "too many waiting requests, try again shortly", NULL);
	return ROUTE_DONE;
}
