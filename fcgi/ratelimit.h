/*
 * ratelimit: fixed-window counters for the public routes, behind one small interface
 * so that another store (Redis, when redis_url is set in a later version) can replace
 * the PostgreSQL one without touching the callers.
 *
 * The PostgreSQL backend counts in table rate_limits through chatai_rate_hit()
 * (sql/002_rest.sql): one upsert per hit, old windows swept now and then. When
 * redis_url is set, common/credis.h counts in Redis first (shared by every host, no
 * database write per hit) and the PostgreSQL backend takes over while Redis is down.
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

/* One hit of key against limit per window seconds. */
int ratelimit_hit(struct db *db, const char *key, int64_t limit, int64_t window, int64_t *retry_after) CHATAI_WUR;

#endif
