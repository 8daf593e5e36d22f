/* SPDX-License-Identifier: MIT */
/* dialogs: the operator side's dialog list, one dialog, status actions, typing, read. */
#include "autoconfig.h"
#include "dialogs.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "typing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int h_dialogs_list(struct req *r)
{
	struct v_dialogs_query q;
	struct verr e = { 0 };
	if (v_dialogs_query(r->query, &q, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	char aid[24], lim[24], before[24];
	snprintf(aid, sizeof aid, "%lld", (long long)q.assistant_id);
	snprintf(lim, sizeof lim, "%lld", (long long)q.limit);
	snprintf(before, sizeof before, "%lld", (long long)q.before);
	const char *p[4] = { q.statuses, q.assistant_id ? aid : NULL, lim, q.before ? before : NULL };
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
	if (!res) {
		http_db_error(r, "dialogs list");
		return ROUTE_DONE;
	}
	http_json(r, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	return ROUTE_DONE;
}

int h_dialog_get(struct req *r)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	const char *p[1] = { id };
	PGresult *res = db_exec(r->db, "SELECT chatai_dialog_json(d)::text FROM dialogs d WHERE d.id = $1::bigint", 1, p);
	if (!res) {
		http_db_error(r, "dialog");
		return ROUTE_DONE;
	}
	if (PQntuples(res) == 1)
		http_json(r, 200, PQgetvalue(res, 0, 0));
	else
		http_error(r, 404, "not_found", "no such dialog", NULL);
	PQclear(res);
	return ROUTE_DONE;
}

/* takeover / release / close / handoff through chatai_rest_status(). op 0: visitor. */
int dialog_action(struct req *r, int64_t op, const char *action)
{
	char id[24], opid[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	snprintf(opid, sizeof opid, "%lld", (long long)op);
	const char *p[3] = { id, op ? opid : NULL, action };
	PGresult *res = db_exec(r->db, "SELECT chatai_rest_status($1::bigint, $2::bigint, $3)::text", 3, p);
	if (!res) {
		http_db_error(r, action);
		return ROUTE_DONE;
	}
	http_json(r, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	return ROUTE_DONE;
}

int h_dialog_takeover(struct req *r)
{
	return dialog_action(r, r->op.id, "takeover");
}

int h_dialog_release(struct req *r)
{
	return dialog_action(r, r->op.id, "release");
}

int h_dialog_close(struct req *r)
{
	return dialog_action(r, r->op.id, "close");
}

/* Typing of `who`: the one typing path (common/typing.h), never stored. */
int dialog_typing(struct req *r, const char *who)
{
	int start = 0;
	struct verr e = { 0 };
	if (v_typing(req_body(r), &start, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	if (typing_send(r->db, r->ids[0], 0, who, start ? "start" : "stop") < 0) {
		http_db_error(r, "typing");
		return ROUTE_DONE;
	}
	http_no_content(r);
	return ROUTE_DONE;
}

int h_dialog_typing(struct req *r)
{
	return dialog_typing(r, "manager");
}

int h_dialog_read(struct req *r)
{
	int64_t seq = 0;
	struct verr e = { 0 };
	if (v_read(req_body(r), &seq, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	char id[24], s[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	snprintf(s, sizeof s, "%lld", (long long)seq);
	const char *p[2] = { id, s };
	/* The read position only moves forward and never past the last message. */
	PGresult *res = db_exec(r->db,
		"WITH u AS (UPDATE dialogs SET read_seq = GREATEST(read_seq, LEAST($2::bigint, last_seq))"
		"  WHERE id = $1::bigint RETURNING id)"
		" SELECT chatai_notify_dialog(id, 'dialog_updated') FROM u", 2, p);
	if (!res) {
		http_db_error(r, "read");
		return ROUTE_DONE;
	}
	if (PQntuples(res) == 1)
		http_no_content(r);
	else
		http_error(r, 404, "not_found", "no such dialog", NULL);
	PQclear(res);
	return ROUTE_DONE;
}
