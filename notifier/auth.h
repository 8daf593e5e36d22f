/* SPDX-License-Identifier: MIT */
/*
 * auth: who may open which stream (API.md, Authentication and Streams).
 *
 *  - operator streams: ?token=T; its SHA-256 must name a session that is neither expired
 *    nor revoked. The dialog must exist (404). The answer gives the seconds the session
 *    has left (the stream ends then); auth_session_sql asks about a session again when a
 *    revocation arrives.
 *  - widget streams: ?visitor_token=V&assistant_id=A; the dialog must exist (404), V's
 *    hash must be one of the dialog's visitor tokens (dialog_visitor_tokens, 401;
 *    constant-time compare of the row found), the
 *    dialog must belong to A (403) and the Origin, when the browser sent one, must pass
 *    the assistant's allowed_origins under the one rule of common/origin.h, the rule REST
 *    applies (wildcard subdomains, default ports; an empty list allows any origin; 403).
 *
 * One query per request on the query link; the answer also gives the dialog's current
 * last_seq, where a stream without a cursor starts. Decisions are pure functions of the
 * query's row so they are unit-tested without a database.
 */
#ifndef CHATAI_AUTH_H
#define CHATAI_AUTH_H

#include <libpq-fe.h>
#include <stdint.h>
#include "token.h"

/* Outcome: 0 allowed, else the HTTP status (401, 403, 404) or 503 (database). */
struct auth_result {
	int status;
	int64_t session_id;  /* operator streams */
	double expires_in;   /* operator streams: seconds until the session expires */
	int64_t last_seq;    /* dialog streams */
	const char *why;     /* for the error JSON */
};

/* SQL and parameters. Operator: $1 token hash, $2 dialog id (0 for the inbox). */
extern const char auth_operator_sql[];
/* Visitor: $1 dialog id; the fourth column is allowed_origins as a JSON array. */
extern const char auth_visitor_sql[];
/* The same two with a stream ticket (sql/003_auth.sql) instead of the token: the
 * ticket is consumed (deleted) by the query whatever it finds. Operator: $1 ticket hash,
 * $2 dialog id; same columns as auth_operator_sql. Visitor: $1 dialog id, $2 ticket
 * hash; same columns as auth_visitor_sql, the first being $2 when the ticket is
 * valid for this dialog ('' otherwise), so that auth_visitor_decide() with the ticket's
 * hash as the given hash decides as for a token. */
extern const char auth_operator_ticket_sql[];
extern const char auth_visitor_ticket_sql[];
/* A session again (revocation, expiry moved): $1 session id; one row, the seconds it has
 * left, when it is still valid. */
extern const char auth_session_sql[];

/* Interpret a result (NULL: the database could not be asked). origin: the request's
 * Origin header, NULL when it had none. */
void auth_operator_decide(PGresult *res, int want_dialog, struct auth_result *out);
void auth_visitor_decide(PGresult *res, const char *visitor_token_hash, int64_t assistant_id,
                         const char *origin, struct auth_result *out);

/* Pure core of the visitor decision, for tests: fields of the dialog row. */
void auth_visitor_check(int found, const char *row_hash, int64_t row_assistant, int origin_ok,
                        int64_t row_last_seq, const char *given_hash, int64_t given_assistant,
                        struct auth_result *out);

/* Seconds left of a valid session from auth_session_sql's result; 0 when it is revoked,
 * expired, deleted or the database could not be asked. */
double auth_session_left(PGresult *res);
/* A positive float8 column, else 0. */
double auth_seconds(PGresult *res, int row, int col);

/* WebSocket close code for an auth status (4401, 4403, 4404; 1013 for 503). */
int auth_ws_code(int status);

#endif
