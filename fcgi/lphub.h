/* SPDX-License-Identifier: MIT */
/*
 * lphub: what the long-poll hub's two halves share (internal to longpoll.c and
 * lpdispatch.c): a parked request, the hub's locked state, and the dispatcher thread.
 * The dispatcher (lpdispatch.c) takes parked requests, waits for notifications, closed
 * links and wake times, and moves who must be looked at to the ready queue; the
 * completion threads (longpoll.c) query and answer.
 */
#ifndef CHATAI_FCGI_LPHUB_H
#define CHATAI_FCGI_LPHUB_H

#include "longpoll.h"
#include "lpaddr.h"
#include "lpheap.h"

#include <pthread.h>
#include <stdint.h>

struct lp_dialog_waiters;

/* One parked request. Owned by the hub: on the pending list, then with the dispatcher
 * (in its dialog's list of waiting requests), then the ready queue, then a completion
 * thread. */
struct waiter {
	struct waiter *next, *prev; /* in its dialog's list while waiting (lpdispatch.c) */
	struct lp_dialog_waiters *dw; /* that list */
	struct lp_hnode timer; /* in the dispatcher's heap at wake_ms while waiting */
	struct waiter *fired_next; /* on the dispatcher's list of woken ones */
	int in_set;          /* its FastCGI link is in the dispatcher's epoll set (until closed) */
	uint32_t slot;       /* its entry in the dispatcher's slot table while waiting */
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

/* The hub's state shared between threads: under mu, but for what is set before the
 * threads start (max, workers, efd, url). */
struct lp_hub {
	pthread_mutex_t mu;
	pthread_cond_t ready_cv;  /* completion threads wait on it */
	pthread_cond_t idle_cv;   /* lp_drain waits on it */
	struct waiter *pending;   /* parked, not yet taken by the dispatcher */
	struct waiter *ready_head, *ready_tail;
	uint64_t gen;             /* published generation */
	int64_t owned;            /* requests the hub holds */
	int64_t max;
	int workers;
	int efd;                  /* written to wake the dispatcher */
	int started;
	int stopping;             /* lp_stop() was called */
	char *url;
};
extern struct lp_hub lp_hub;

/* Create the dispatcher's epoll set (with lp_hub.efd in it): 0, or -1 logged. */
int lp_dispatch_init(void);
/* The dispatcher thread. */
void *lp_dispatcher_main(void *arg);

#endif
