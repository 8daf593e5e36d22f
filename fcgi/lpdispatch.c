/* SPDX-License-Identifier: MIT */
/* lpdispatch: the long-poll hub's dispatcher thread (see lphub.h). */
#include "autoconfig.h"
#include "lphub.h"
#include "authcache.h"
#include "db.h"
#include "dlist.h"
#include "idmap.h"
#include "json.h"
#include "log.h"
#include "lpnote.h"
#include "request.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct lp_hub lp_hub = { .mu = PTHREAD_MUTEX_INITIALIZER, .ready_cv = PTHREAD_COND_INITIALIZER,
                         .idle_cv = PTHREAD_COND_INITIALIZER, .efd = -1 };

/*
 * Dispatcher-only state: the waiting requests by dialog (for notifications to match),
 * their wake times in a heap, the ones a notification woke, and one epoll set with the
 * event fd, the LISTEN link and every waiting FastCGI link. Each pass of the dispatcher
 * costs what changed, not how many wait: 8,000 parked requests are not walked, nor
 * polled, each time one more arrives, and a notification looks only at the requests it
 * can concern (lp_note_matches): those waiting on its dialog and those on the inbox
 * (dialog 0), which every message and dialog event concerns.
 */
struct lp_dialog_waiters {
	struct idmap_node node;           /* in `dmap`; node.id: the dialog's id */
	struct waiter *head;              /* a DLIST by next/prev */
};
static struct idmap dmap;
#define DIALOG_WAITERS(n) ((struct lp_dialog_waiters *)((char *)(n) - offsetof(struct lp_dialog_waiters, node)))
static size_t nwaiting;
static struct lp_heap timers;
static struct waiter *fired;
static int epfd = -1;
static struct lp_ring ring;

/*
 * A waiting request's link is tagged in the epoll set with its slot and the slot's
 * generation, not with a pointer. A woken request leaves the slot table when it is handed
 * to the completion threads, but its link stays in the set until a completion thread
 * closes it (a close takes a file out of every epoll set): no epoll_ctl per answer, and an
 * event that arrives in between carries an old generation and is ignored. Links are
 * watched edge-triggered, so such a link reports its hang-up once, not on every wait.
 */
struct slot {
	struct waiter *w;   /* NULL: free */
	uint32_t gen;
	uint32_t next_free;
};
static struct slot *slots;
static uint32_t nslots, free_slot = UINT32_MAX;
#define TAG_EFD UINT64_MAX
#define TAG_LISTEN (UINT64_MAX - 1)

static uint32_t slot_take(struct waiter *w)
{
	if (free_slot == UINT32_MAX) {
		uint32_t grow = nslots ? nslots : 1024;
		slots = xrealloc(slots, (size_t)(nslots + grow) * sizeof *slots);
		for (uint32_t i = nslots + grow; i-- > nslots;) {
			slots[i] = (struct slot){ .w = NULL, .gen = 0, .next_free = free_slot };
			free_slot = i;
		}
		nslots += grow;
	}
	uint32_t i = free_slot;
	free_slot = slots[i].next_free;
	slots[i].w = w;
	return i;
}

static void slot_release(uint32_t i)
{
	slots[i].w = NULL;
	slots[i].gen++;
	slots[i].next_free = free_slot;
	free_slot = i;
}

static uint64_t slot_tag(uint32_t i)
{
	return (uint64_t)slots[i].gen << 32 | i;
}

/* The waiter an event's tag names, or NULL when that wait is over. */
static struct waiter *slot_waiter(uint64_t tag)
{
	uint32_t i = (uint32_t)tag;
	if (i >= nslots || slots[i].gen != (uint32_t)(tag >> 32))
		return NULL;
	return slots[i].w;
}

#define TIMER_WAITER(t) ((struct waiter *)((char *)(t) - offsetof(struct waiter, timer)))

static void fire(struct waiter *w)
{
	if (w->fired)
		return;
	w->fired = 1;
	w->fired_next = fired;
	fired = w;
}

/* The waiting requests of a dialog; NULL when none (and create is 0). */
static struct lp_dialog_waiters *dmap_find(int64_t dialog_id, int create)
{
	struct idmap_node *n = idmap_find(&dmap, dialog_id);
	if (n || !create)
		return n ? DIALOG_WAITERS(n) : NULL;
	struct lp_dialog_waiters *d = xcalloc(1, sizeof *d);
	d->node.id = dialog_id;
	idmap_add(&dmap, &d->node);
	return d;
}

/* Forget d, whose last request left. */
static void dmap_drop(struct lp_dialog_waiters *d)
{
	idmap_remove(&dmap, &d->node);
	free(d);
}

static void fire_matching(const struct lp_dialog_waiters *d, const struct lp_note *n)
{
	for (struct waiter *w = d ? d->head : NULL; w; w = w->next)
		if (!w->fired && lp_note_matches(&w->q, n))
			fire(w);
}

/* Every waiting request is woken, its deadline now when `end` (the process stops). */
static void fire_all(int end)
{
	int64_t t = now_ms();
	IDMAP_EACH(&dmap, n)
		for (struct waiter *w = DIALOG_WAITERS(n)->head; w; w = w->next) {
			if (end)
				w->deadline_ms = w->wake_ms = t;
			fire(w);
		}
}

static void note_add(const struct lp_note *in)
{
	struct lp_note n = *in;
	lp_ring_add(&ring, &n);
	if (n.kind == LP_NOTE_ALL) {
		fire_all(0);
		return;
	}
	fire_matching(dmap_find(0, 0), &n);
	if (n.kind == LP_NOTE_MSG && n.dialog_id != 0) /* a dialog's own requests wait for messages */
		fire_matching(dmap_find(n.dialog_id, 0), &n);
}

static void waiting_unlink(struct waiter *w)
{
	struct lp_dialog_waiters *d = w->dw;
	DLIST_UNLINK(d->head, w);
	if (!d->head)
		dmap_drop(d);
	w->dw = NULL;
	nwaiting--;
	lp_heap_remove(&timers, &w->timer);
	slot_release(w->slot);
}

/* A web server that gives up on a request (its client left) closes its link, and the
 * request is dropped at once instead of holding its socket until the deadline. */
static void waiting_push(struct waiter *w)
{
	nwaiting++;
	w->dw = dmap_find(w->q.dialog_id, 1);
	DLIST_PUSH(w->dw->head, w);
	w->timer.at = w->wake_ms;
	lp_heap_push(&timers, &w->timer);
	w->slot = slot_take(w);
	if (!w->transport->fcgx || w->transport->fcgx->ipcFd < 0)
		return;
	/* A request parked again (its answer was empty) is in the set already: MOD gives it
	 * its new tag and reports a hang-up that came meanwhile. */
	struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLET, .data.u64 = slot_tag(w->slot) };
	int fd = w->transport->fcgx->ipcFd;
	if (epoll_ctl(epfd, w->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0)
		w->in_set = 1;
	else
		log_warn("longpoll: epoll_ctl %s: %s", w->in_set ? "MOD" : "ADD", strerror(errno));
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
	PGconn *c = db_connect_url(lp_hub.url);
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
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_LISTEN };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, PQsocket(l->pg), &ev) < 0)
		log_warn("longpoll: epoll_ctl ADD (LISTEN link): %s", strerror(errno));
	/* Whatever was committed while we were not listening: everyone looks. */
	struct lp_note all = { .kind = LP_NOTE_ALL };
	note_add(&all);
	log_debug("longpoll: listening on channel chatai"); /* per request under CGI */
}

/* The wait: none when some are woken, else until the first wake time or the next
 * reconnect (at most 1 s). */
static int dispatch_timeout(const struct listen_link *l, int64_t now)
{
	int timeout = 1000;
	struct lp_hnode *t = lp_heap_top(&timers);
	if (fired)
		timeout = 0;
	else if (t && t->at - now < timeout)
		timeout = t->at - now < 0 ? 0 : (int)(t->at - now);
	if (!l->pg && l->next_try - now < timeout)
		timeout = l->next_try - now < 0 ? 0 : (int)(l->next_try - now);
	return timeout;
}

/* Wait on the epoll set; what the event fd and the LISTEN link had goes to *ev_efd and
 * *ev_pg, a waiter whose link closed is marked gone and woken. */
static void dispatch_wait(int timeout, int *ev_efd, int *ev_pg)
{
	struct epoll_event evs[256];
	*ev_efd = *ev_pg = 0;
	int n = epoll_wait(epfd, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
	if (n < 0 && errno != EINTR)
		log_warn("longpoll: epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		if (tag == TAG_EFD) {
			*ev_efd = 1;
		} else if (tag == TAG_LISTEN) {
			*ev_pg = 1;
		} else if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			struct waiter *w = slot_waiter(tag);
			if (w) {
				w->gone = 1;
				fire(w);
			}
		}
	}
}

/* Read what the LISTEN link has: notifications, or its loss. */
static void listen_read(struct listen_link *l)
{
	authcache_busy(1);
	if (!PQconsumeInput(l->pg) || PQstatus(l->pg) != CONNECTION_OK) {
		log_warn("longpoll: LISTEN link lost: %s", PQerrorMessage(l->pg));
		authcache_listening(-1);
		epoll_ctl(epfd, EPOLL_CTL_DEL, PQsocket(l->pg), NULL);
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
	pthread_mutex_lock(&lp_hub.mu);
	lp_hub.gen = ring.gen;
	struct waiter *p = lp_hub.pending;
	lp_hub.pending = NULL;
	int stop = lp_hub.stopping;
	pthread_mutex_unlock(&lp_hub.mu);
	while (p) {
		struct waiter *next = p->next;
		p->fired = 0;
		waiting_push(p);
		if (lp_ring_missed(&ring, &p->q, p->gen))
			fire(p);
		p = next;
	}
	if (stop)
		fire_all(1);
}

/* Move what must be looked at (woken, or its time came) to the completion threads. */
static void dispatch_ready(void)
{
	int64_t now = now_ms();
	struct waiter *rh = NULL, *rt = NULL;
	for (;;) {
		struct waiter *w = fired;
		if (w) {
			fired = w->fired_next;
			w->fired_next = NULL;
		} else {
			struct lp_hnode *t = lp_heap_top(&timers);
			if (!t || t->at > now)
				break;
			w = TIMER_WAITER(t);
		}
		waiting_unlink(w);
		if (rt)
			rt->next = w;
		else
			rh = w;
		rt = w;
	}
	if (!rh)
		return;
	pthread_mutex_lock(&lp_hub.mu);
	if (lp_hub.ready_tail)
		lp_hub.ready_tail->next = rh;
	else
		lp_hub.ready_head = rh;
	lp_hub.ready_tail = rt;
	pthread_cond_broadcast(&lp_hub.ready_cv);
	pthread_mutex_unlock(&lp_hub.mu);
}

void *lp_dispatcher_main(void *arg)
{
	(void)arg;
	struct listen_link l = { NULL, 0 };
	for (;;) {
		int64_t now = now_ms();
		listen_ensure(&l, now);
		int ev_efd, ev_pg;
		dispatch_wait(dispatch_timeout(&l, now), &ev_efd, &ev_pg);
		if (ev_efd) {
			uint64_t v;
			if (read(lp_hub.efd, &v, sizeof v) < 0 && errno != EAGAIN)
				log_warn("longpoll: eventfd read: %s", strerror(errno));
		}
		if (l.pg && ev_pg)
			listen_read(&l);
		dispatch_take_pending();
		dispatch_ready();
	}
	return NULL;
}

int lp_dispatch_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_EFD };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lp_hub.efd, &ev) < 0) {
		log_error("longpoll: epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}
