/* SPDX-License-Identifier: MIT */
/*
 * longpoll: requests that wait for news (GET .../messages?wait=, GET /api/inbox?wait=).
 *
 * One hub per process. Its dispatcher thread owns the ONE connection that LISTENs on
 * channel `chatai` and waits on its socket with epoll(7); requests with nothing to say
 * yet are parked with it (they keep only their FastCGI socket, no thread and no
 * database link), and woken when a notification about their dialog (or any inbox
 * event) arrives, or when their wait ends. A small pool of completion threads, each
 * with its own struct db, re-runs the query of a woken request and answers it, or parks
 * it again when the news was not for it.
 *
 * No notification is lost between a request's first query and its parking: the worker
 * reads the hub's generation before querying, and the dispatcher, which remembers the
 * last notifications, wakes at once a request parked with an older generation that
 * missed a matching one. A reconnect of the LISTEN link counts as a notification for
 * everyone (whatever was missed meanwhile is re-read from the tables).
 *
 * The hub knows no resource: a resource fills a struct lp_query with its lp_ops (how to
 * fetch, what its 404 says) and which notifications wake it, and calls lp_serve().
 * The matching of notifications to waiters is lpnote.h's.
 */
#ifndef CHATAI_FCGI_LONGPOLL_H
#define CHATAI_FCGI_LONGPOLL_H

#include <stdint.h>
#include "db.h"
#include "util.h"

struct lp_query;
struct req;

/* What a resource tells the hub about its queries (one static table per resource). */
struct lp_ops {
	/* Run the query. On success *json is the answer body (owned) and *empty tells
	 * whether it holds nothing new. Returns 0, DB_ROW_FAILED when the database failed
	 * (db->status tells how), DB_ROW_NONE when the resource does not exist (404 with
	 * `missing`): db_one_row()'s names (common/db.h). It may
	 * update q->arg (the inbox cursor advances) and q->recheck. */
	int (*fetch)(struct db *db, struct lp_query *q, char **json, int *empty);
	const char *missing; /* the 404 message, e.g. "no such dialog" */
};

#define LP_ARG_MAX 48

/* What a long-poll asks for; also the query of a plain (wait=0) read. Start from a
 * zeroed one: waiters with byte-equal queries share one fetch. */
struct lp_query {
	const struct lp_ops *ops;
	/* Which notifications of channel `chatai` wake it: */
	int64_t dialog_id;  /* messages of this dialog; 0: every message and dialog event */
	int every_audience; /* messages of every audience (else only audience `all`) */
	int recheck;        /* set by fetch: committed news may still be behind the snapshot
	                       horizon; look again shortly even without a notification */
	/* The resource's own parameters (its struct, memcpy'd in and out). */
	_Alignas(8) unsigned char arg[LP_ARG_MAX];
};

/* Serve a long-poll request: query now; answer at once when there is news or no wait,
 * else park it. Returns ROUTE_DONE or ROUTE_PARKED. */
int lp_serve(struct req *r, struct lp_query *q, int64_t wait_s);

/* Configure the hub: its database, `workers` completion threads, at most max_parked
 * requests. The threads start with the first parked request or lp_start_now(). */
void lp_start(const char *database_url, int workers, int64_t max_parked);
void lp_start_now(void);
/* The generation to read before the first query of a request that may park. */
uint64_t lp_generation(void);
/* Block until no request is parked (CGI mode: one request, then exit). */
void lp_drain(void);
/* The process is stopping: park nothing more, answer every parked request now with
 * what there is (an empty answer tells the client to poll again). */
void lp_stop(void);
/* 1 when the hub holds no request. */
int lp_idle(void);

#endif
