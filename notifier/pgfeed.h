/* SPDX-License-Identifier: MIT */
/*
 * pgfeed: the notifier's two PostgreSQL links, both non-blocking on the loop.
 *
 *  - the LISTEN link runs `LISTEN chatai` and hands every notification payload to the
 *    notify callback with the time it was read off the socket (latency is measured from
 *    there);
 *  - the query link runs queued jobs one at a time (PQsendQueryParams) and hands each
 *    result to the job's callback.
 *
 * Both connect with PQconnectStart/PQconnectPoll and reconnect on their own with an
 * exponential backoff (100 ms doubling up to 5 s). When the LISTEN link comes back after
 * a loss, listen_up() is called: notifications sent meanwhile are gone, so the hub
 * catches every subscriber up from the table.
 *
 * Jobs: PGJOB_RETRY jobs (replays, reads) survive a lost link and are sent again after
 * reconnecting; other jobs (auth, typing) fail with a NULL result when the link is down
 * (after it failed at least once), so a client is told to come back instead of waiting.
 * Callbacks run from the loop, never from inside pgfeed_query(). A PGresult passed to a
 * callback is owned by pgfeed and cleared after the callback returns.
 */
#ifndef CHATAI_PGFEED_H
#define CHATAI_PGFEED_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*pgfeed_notify_cb)(const char *payload, size_t len, int64_t t_recv_us);
typedef void (*pgfeed_up_cb)(int first);
typedef void (*pgfeed_result_cb)(void *arg, PGresult *res);

#define PGJOB_RETRY 1

void pgfeed_start(const char *url, pgfeed_notify_cb on_notify, pgfeed_up_cb listen_up);
/* New connection string (SIGHUP): used at the next (re)connect. */
void pgfeed_set_url(const char *url);
void pgfeed_stop(void);

/* Queue a query: n text parameters (copied; NULL entries are SQL NULL). sql must be a
 * string literal or otherwise outlive the job. */
void pgfeed_query(const char *sql, int n, const char *const *params, int flags,
                  pgfeed_result_cb cb, void *arg);

int pgfeed_listen_up(void);
int pgfeed_query_up(void);
size_t pgfeed_queue_len(void);
uint64_t pgfeed_reconnects(void);

#endif
