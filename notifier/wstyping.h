/* SPDX-License-Identifier: MIT */
/*
 * wstyping: typing sent by WebSocket clients, on the one typing path of common/typing.h,
 * run on the notifier's loop: the dialog check (chatai_typing_check()) on the query link,
 * then PUBLISH on Redis when redis_url is set (common/credis, the same publisher REST and
 * the assistant use), else or when that fails chatai_typing()'s NOTIFY. Without Redis,
 * chatai_rest_typing() does the check and the NOTIFY in one query.
 *
 * The PUBLISH is a synchronous round trip on the loop. The handle's command timeout is
 * 20 ms and a Redis that fails closes credis's gate (250 ms doubling to 2 s, no attempt
 * meanwhile), so a frozen Redis costs the loop at most 20 ms per gate opening; a healthy
 * one on the private network answers in well under a millisecond.
 */
#ifndef CHATAI_NOTIFIER_WSTYPING_H
#define CHATAI_NOTIFIER_WSTYPING_H

#include <libpq-fe.h>
#include <stdint.h>

/* Open the Redis publisher for url (redis_url; NULL or "": PostgreSQL alone). */
void wstyping_init(const char *url);
void wstyping_free(void);

/*
 * Send one typing event (who "user" or "manager", state "start" or "stop"). done is
 * called once, from the loop, with the result of the dialog check: NULL when the
 * database could not be asked, a PGRES_FATAL_ERROR result whose SQLSTATE is P0002
 * (missing) or CA409 (closed) when refused, anything else when sent.
 */
void wstyping_send(int64_t dialog, const char *who, const char *state, void (*done)(void *arg, PGresult *res),
                   void *arg);

#endif
