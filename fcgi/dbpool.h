/* SPDX-License-Identifier: MIT */
/*
 * dbpool: the database links of one chatai.fcgi process, shared by its threads.
 *
 * A process has many threads (requests waiting on their web server, on the network)
 * and few links: PostgreSQL's stock max_connections is 100, and every process of every
 * web server holds its own links. A request borrows a link for its duration and gives
 * it back; when all are lent it waits up to `fcgi_db_wait` milliseconds, then answers
 * 503 with Retry-After. Links open on first use (an idle process holds none beyond
 * those it once needed) and the most recently returned one is lent first, so a light
 * load keeps using the same one or two. docs/deploy.md has the sizing rule.
 */
#ifndef CHATAI_FCGI_DBPOOL_H
#define CHATAI_FCGI_DBPOOL_H

#include <stdint.h>
#include "db.h"

/* size links at most (>= 1); wait_ms: the longest a request waits for one. */
void dbpool_init(const char *url, int size, int64_t wait_ms);
/* A link (connected lazily by db_exec), or NULL when none came free in time. */
struct db *dbpool_get(void);
void dbpool_put(struct db *db);
/* Close every link that is not lent (at exit). */
void dbpool_close(void);

#endif
