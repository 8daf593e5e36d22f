/* SPDX-License-Identifier: MIT */
/* dialogs: the operator side's dialog list, one dialog, status actions, typing, read. */
#include "autoconfig.h"
#include "dialogs.h"
#include "routes.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "typing.h"

#include <stdlib.h>
#include <string.h>

static int h_dialogs_list(struct req *r)
{
	struct v_dialogs_query q;
	struct verr e = { 0 };
	if (v_dialogs_query(r->query, &q, &e) < 0)
		return http_verr(r, &e);
	char aid[I64_TEXT], lim[I64_TEXT], before[I64_TEXT];
	const char *p[4] = { q.statuses, q.assistant_id ? i64_text(q.assistant_id, aid) : NULL,
			     i64_text(q.limit, lim), q.before ? i64_text(q.before, before) : NULL };
	/* Newest activity first; `before` continues after that dialog's (updated_at, id). */
	PGresult *res = db_exec(r->db,
		"SELECT jsonb_build_object('dialogs', COALESCE(jsonb_agg(chatai_dialog_json(x.d)"
		"   ORDER BY (x.d).updated_at DESC, (x.d).id DESC), '[]'::jsonb))::text"
		" FROM (SELECT d FROM dialogs d"
		"  WHERE ($1::text IS NULL OR d.status = ANY (string_to_array($1::text, ',')))"
		"    AND ($2::bigint IS NULL OR d.assistant_id = $2::bigint)"
		"    AND ($4::bigint IS NULL OR (d.updated_at, d.id) <"
		"         (SELECT b.updated_at, b.id FROM dialogs b WHERE b.id = $4::bigint))"
		"  ORDER BY d.updated_at DESC, d.id DESC LIMIT $3::bigint) x", 4, p);
	free(q.statuses);
	/* One row always (an aggregate). */
	return http_row(r, res, 200, "dialogs list", "no such resource");
}

static int h_dialog_get(struct req *r)
{
	const char *p[1] = { req_id(r) };
	PGresult *res = db_exec(r->db, "SELECT chatai_dialog_json(d)::text FROM dialogs d WHERE d.id = $1::bigint", 1, p);
	return http_row(r, res, 200, "dialog", "no such dialog");
}

/* takeover / release / close / handoff through chatai_rest_status() (a dialog that does
 * not exist: P0002, 404). op 0: visitor. */
int dialog_action(struct req *r, int64_t op, const char *action)
{
	char opid[I64_TEXT];
	const char *p[3] = { req_id(r), op ? i64_text(op, opid) : NULL, action };
	PGresult *res = db_exec(r->db, "SELECT chatai_rest_status($1::bigint, $2::bigint, $3)::text", 3, p);
	return http_row(r, res, 200, action, "no such dialog");
}

static int h_dialog_takeover(struct req *r)
{
	return dialog_action(r, r->op.id, "takeover");
}

static int h_dialog_release(struct req *r)
{
	return dialog_action(r, r->op.id, "release");
}

static int h_dialog_close(struct req *r)
{
	return dialog_action(r, r->op.id, "close");
}

/* Typing of `who`: the one typing path (common/typing.h), never stored. */
int dialog_typing(struct req *r, const char *who)
{
	int start = 0;
	struct verr e = { 0 };
	if (v_typing(req_body(r), &start, &e) < 0)
		return http_verr(r, &e);
	if (typing_send(r->db, r->ids[0], 0, who, start ? "start" : "stop") < 0) {
		http_db_error(r, "typing");
		return ROUTE_DONE;
	}
	http_no_content(r);
	return ROUTE_DONE;
}

static int h_dialog_typing(struct req *r)
{
	return dialog_typing(r, "manager");
}

static int h_dialog_read(struct req *r)
{
	int64_t seq = 0;
	struct verr e = { 0 };
	if (v_read(req_body(r), &seq, &e) < 0)
		return http_verr(r, &e);
	char s[I64_TEXT];
	const char *p[2] = { req_id(r), i64_text(seq, s) };
	/* The read position only moves forward and never past the last message. */
	PGresult *res = db_exec(r->db,
		"WITH u AS (UPDATE dialogs SET read_seq = GREATEST(read_seq, LEAST($2::bigint, last_seq))"
		"  WHERE id = $1::bigint RETURNING id)"
		" SELECT chatai_notify_dialog(id, 'dialog_updated') FROM u", 2, p);
	return http_row(r, res, 204, "read", "no such dialog");
}

const struct route dialogs_routes[] = {
	{ "GET", "/api/dialogs", h_dialogs_list, ROUTE_OPERATOR },
	{ "GET", "/api/dialogs/{id}", h_dialog_get, ROUTE_OPERATOR },
	{ "POST", "/api/dialogs/{id}/takeover", h_dialog_takeover, ROUTE_OPERATOR },
	{ "POST", "/api/dialogs/{id}/release", h_dialog_release, ROUTE_OPERATOR },
	{ "POST", "/api/dialogs/{id}/close", h_dialog_close, ROUTE_OPERATOR },
	{ "POST", "/api/dialogs/{id}/typing", h_dialog_typing, ROUTE_OPERATOR | ROUTE_BODY },
	{ "POST", "/api/dialogs/{id}/read", h_dialog_read, ROUTE_OPERATOR | ROUTE_BODY },
	{ 0 },
};
