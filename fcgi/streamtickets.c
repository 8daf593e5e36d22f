/* SPDX-License-Identifier: MIT */
/*
 * streamtickets: single-use stream tickets (docs/api.md, "Stream tickets").
 *
 * A client that opens a stream at the notifier asks here first, with the token it uses
 * for REST (the operator's bearer token, or the visitor token of one dialog), and puts
 * the ticket in the stream URL (?ticket=) instead of the token: the URL, which web
 * servers and proxies log, then carries nothing that outlives the connection. A ticket
 * is stored hashed (sql/003_auth.sql), lives STREAM_TICKET_TTL seconds and is
 * consumed by the first stream that shows it (notifier/auth.c).
 */
#include "autoconfig.h"
#include "routes.h"
#include "caller.h"
#include "request.h"
#include "router.h"
#include "log.h"
#include "token.h"

#include <stdlib.h>
#include <string.h>

#define STREAM_TICKET_TTL 30

/* Stores a fresh ticket for session (or dialog) and answers 201 {"ticket", "expires_in"}. */
static int issue(struct req *r, int64_t session, int64_t dialog)
{
	char tok[TOKEN_CHARS + 1], hash[TOKEN_HASH_CHARS + 1], s[I64_TEXT], d[I64_TEXT], ttl[I64_TEXT];
	if (token_new(tok) < 0)
		return http_error(r, 503, "unavailable", "no entropy for a ticket: try again", NULL);
	token_hash(tok, hash);
	const char *p[4] = { hash, session ? i64_text(session, s) : NULL, dialog ? i64_text(dialog, d) : NULL,
			     i64_text(STREAM_TICKET_TTL, ttl) };
	PGresult *res = db_exec(r->db, "SELECT chatai_stream_ticket($1, $2::bigint, $3::bigint, $4::int)", 4, p);
	if (http_db_done(r, res, "stream ticket") == 0)
		http_json_take(r, 201,
			       xasprintf("{\"ticket\":\"%s\",\"expires_in\":%d}", tok, STREAM_TICKET_TTL));
	memset(tok, 0, sizeof tok);
	return ROUTE_DONE;
}

static int h_stream_ticket(struct req *r)
{
	return issue(r, r->op.session_id, 0);
}

static int h_widget_stream_ticket(struct req *r)
{
	int64_t assistant;
	if (caller_widget_dialog(r, &assistant) < 0)
		return ROUTE_DONE;
	return issue(r, 0, r->ids[0]);
}

/* clang-format off */
const struct route streamtickets_routes[] = {
	{ "POST", "/api/stream-tickets", h_stream_ticket, ROUTE_OPERATOR },
	{ "POST", "/api/widget/dialogs/{id}/stream-tickets", h_widget_stream_ticket, ROUTE_WIDGET | ROUTE_RATE_TYPING },
	{ 0 },
};
/* clang-format on */
