/* SPDX-License-Identifier: MIT */
/*
 * typing: the one path of a typing event, for every writer (docs/scaleout.md, "Typing"):
 * REST (fcgi/dialogs.c), the WebSocket streams (notifier/wstyping.c, the same steps on the
 * notifier's loop) and the assistant worker (ai/answer.c).
 *
 *  1. The dialog check, in SQL only: chatai_typing_check() (sql/002_messages.sql) raises
 *     P0002 for a missing dialog and CA409 for a closed one, and gives the assistant.
 *     A writer that already holds the dialog (the assistant worker, inside its job)
 *     passes the assistant and skips it.
 *  2. With redis_url set: PUBLISH on chatai:ephemeral (credis_publish_typing()); done
 *     when at least one notifier got it.
 *  3. Otherwise (no Redis, Redis down, nobody subscribed): chatai_typing()'s NOTIFY, or
 *     chatai_rest_typing() (check and NOTIFY in one statement) when step 1 did not run.
 *
 * A typing event is never stored. Writers keep their own rate limits (REST and the
 * notifier count rate_limit_typing per client address).
 */
#ifndef CHATAI_COMMON_TYPING_H
#define CHATAI_COMMON_TYPING_H

#include <stdint.h>
#include "db.h"

/* The statements of the path: $1 dialog id, $2 who, $3 state. */
#define TYPING_SQL_CHECK "SELECT chatai_typing_check($1::bigint)"
#define TYPING_SQL_NOTIFY "SELECT chatai_typing($1::bigint, $2::text, $3::text)"
#define TYPING_SQL_CHECK_NOTIFY "SELECT chatai_rest_typing($1::bigint, $2::text, $3::text)"

/*
 * Send one typing event: who "user", "ai" or "manager", state "start" or "stop".
 * assistant: the dialog's assistant when the caller holds the dialog (no check), else 0.
 * 0, or -1 with db->status and db->sqlstate saying why (P0002, CA409, DB_DOWN).
 */
int typing_send(struct db *db, int64_t dialog, int64_t assistant, const char *who, const char *state)
	CHATAI_WUR;

#endif
