/* SPDX-License-Identifier: MIT */
/*
 * ratelimit: fixed-window counters for the public routes, behind one small interface
 * so that another store (Redis, when redis_url is set in a later version) can replace
 * the PostgreSQL one without touching the callers.
 *
 * Where the counters live, first that works:
 *  1. Redis, when redis_url is set and it answers (common/credis.h): shared by every
 *     web host, exact.
 *  2. This host's shared memory: one segment per (user, database_url) pair, shared by
 *     every chatai.fcgi process of that user on this host, however it was started
 *     (lighttpd, mod_fcgid, CGI). Exact for one host; with several web hosts and no
 *     Redis each host counts on its own, so a client spreading its requests over N
 *     hosts gets up to N times the limit. No database round trip.
 *  3. PostgreSQL, table rate_limits (UNLOGGED) through chatai_rate_hit(): when shared
 *     memory cannot be had (no /dev/shm, or a segment owned by another user).
 */
#ifndef CHATAI_FCGI_RATELIMIT_H
#define CHATAI_FCGI_RATELIMIT_H

#include <stdint.h>
#include "db.h"
#include "util.h"

enum {
	RATELIMIT_OK = 0,      /* under the limit: go on */
	RATELIMIT_LIMITED = 1, /* over: answer 429, *retry_after seconds */
	RATELIMIT_ERROR = -1,  /* the store failed (db->status tells how) */
};

struct ratelimit_backend {
	/* Count one hit of key in the current window of `window` seconds: the hits so far
	 * in *hits and the seconds left in the window in *retry_after. 0 or -1. */
	int (*hit)(struct db *db, const char *key, int64_t window, int64_t *hits, int64_t *retry_after);
};

/* The PostgreSQL backend (the default). */
extern const struct ratelimit_backend ratelimit_pg;
/* Replace the backend (at start, before any thread runs). */
void ratelimit_set_backend(const struct ratelimit_backend *b);

/* The shared-memory segment's scope (the database URL): before the first hit. */
void ratelimit_init(const char *scope);

/* One hit of key against limit per window seconds. */
int ratelimit_hit(struct db *db, const char *key, int64_t limit, int64_t window, int64_t *retry_after) CHATAI_WUR;

/* The request's rate limit (its route's class; widget GET and OPTIONS: rate_limit_reads),
 * keyed on the client address (IPv6 per /64). Widget handlers call it once the resource
 * is checked (dialog, token, origin), so refused requests count nothing; other routes
 * get it from the pipeline. 0 to go on, -1 with 429 (or 503) set. */
struct req;
int ratelimit_request(struct req *r) CHATAI_WUR;

#endif
