/* SPDX-License-Identifier: MIT */
/*
 * longpoll: requests that wait for news (GET .../messages?wait=, GET /api/inbox?wait=).
 *
 * One hub per process. Its dispatcher thread owns the ONE connection that LISTENs on
 * channel `chatai` and waits on its socket with poll(2); requests with nothing to say
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
 */
#ifndef CHATAI_FCGI_LONGPOLL_H
#define CHATAI_FCGI_LONGPOLL_H

#include <stdint.h>
#include "cursor.h"
#include "db.h"
#include "http.h"

enum lpq_kind {
	LPQ_ADMIN = 0,   /* a dialog's messages, admin audience (every message) */
	LPQ_SITE,        /* a dialog's messages, site audience (no visitor messages) */
	LPQ_INBOX,       /* the operator-wide inbox feed */
};

/* What a long-poll asks for; also the query of a plain (wait=0) read. */
struct lp_query {
	enum lpq_kind kind;
	int64_t dialog_id;
	int has_after;     /* messages: after given */
	int64_t after;     /* messages: seq */
	int64_t limit;     /* messages: at most this many */
	int all_audience;  /* messages without after for the visitor: include their own */
	struct inbox_cursor cursor; /* inbox: where to read from; advanced by lpq_fetch */
	int has_cursor;    /* inbox: 0 on a first call */
	int recheck;       /* set by lpq_fetch (inbox): committed events are still behind the
	                      snapshot horizon; read again shortly even without a notification */
};

/*
 * Run the query. On success *json is the answer body (owned) and *empty tells whether
 * it holds nothing new. Returns 0, -1 when the database failed (db->status tells how),
 * -2 when the dialog does not exist.
 */
int lpq_fetch(struct db *db, struct lp_query *q, char **json, int *empty) CHATAI_WUR;
int messages_fetch(struct db *db, struct lp_query *q, char **json, int *empty) CHATAI_WUR;
int inbox_fetch(struct db *db, struct lp_query *q, char **json, int *empty) CHATAI_WUR;

/* Serve a long-poll request: query now; answer at once when there is news or no wait,
 * else park it. Returns ROUTE_DONE or ROUTE_PARKED. */
struct req;
int lp_serve(struct req *r, struct lp_query *q, int64_t wait_s);
/* The answer when the wait ends with nothing: "[]" or the inbox envelope (owned). */
char *lpq_empty_answer(const struct lp_query *q);

/* Configure the hub: its database, `workers` completion threads, at most max_parked
 * requests. The threads start with the first parked request or lp_start_now(). */
void lp_start(const char *database_url, int workers, int64_t max_parked);
void lp_start_now(void);
/* The generation to read before the first query of a request that may park. */
uint64_t lp_generation(void);
/*
 * Hand a request over: conn (heap allocated, with its FCGX_Request) and q are owned by
 * the hub from now on; cors_origin (may be NULL) is copied. Returns 0, or -1 when the
 * hub is full or not started, -2 when the process is stopping (nothing taken: the
 * caller answers itself).
 */
int lp_park(struct conn *conn, const struct lp_query *q, uint64_t gen, int64_t deadline_ms,
            const char *cors_origin) CHATAI_WUR;
/* Block until no request is parked (CGI mode: one request, then exit). */
void lp_drain(void);
/* The process is stopping: park nothing more, answer every parked request now with
 * what there is (an empty answer tells the client to poll again). */
void lp_stop(void);
/* 1 when the hub holds no request. */
int lp_idle(void);

/* Free the transport of a finished request (FastCGI: finish and free; CGI: nothing). */
void conn_finish_free(struct conn *c);

#endif
