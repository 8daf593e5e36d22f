/* SPDX-License-Identifier: MIT */
/* messages: history, long-poll and posting, operator and widget side. */
#include "autoconfig.h"
#include "routes.h"
#include "caller.h"
#include "request.h"
#include "router.h"
#include "appcfg.h"
#include "validate.h"
#include "inlineai.h"
#include "longpoll.h"
#include "postbatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who reads a history: what it holds differs, so their waiters never share an answer. */
enum history_reader {
	HIST_SITE = 0, /* the visitor with a cursor: the site audience */
	HIST_VISITOR,  /* the visitor without a cursor: their own messages too */
	HIST_ADMIN,    /* an operator: every message */
};

/* A history read's parameters (struct lp_query's arg; int64_t only: no padding). */
struct history {
	int64_t has_after; /* after given */
	int64_t after;     /* seq */
	int64_t limit;     /* at most this many */
	int64_t reader;    /* enum history_reader */
};
_Static_assert(sizeof(struct history) <= LP_ARG_MAX, "struct history fits lp_query.arg");

/* lp_ops.fetch of a dialog's messages (q->dialog_id) as h.reader may see them. */
static int history_fetch(struct db *db, struct lp_query *q, char **json, int *empty)
{
	struct history h;
	memcpy(&h, q->arg, sizeof h);
	char id[I64_TEXT], after[I64_TEXT], lim[I64_TEXT];
	/* What is read: admin history everything; a visitor's history ('visitor') the site
	 * audience and the visitor's own messages; 'site' the site audience only. Notes
	 * and operators' events (audiences 'note', 'admin') never reach a widget. */
	const char *aud = h.reader == HIST_ADMIN ? "admin" : h.reader == HIST_VISITOR ? "visitor" : "site";
	/* With a cursor: the first `limit` messages after it (paging forward never skips);
	 * without: the latest `limit`, ascending. Stored JSON, joined in SQL. */
	const char *p[4] = { i64_text(q->dialog_id, id), i64_text(h.after, after), i64_text(h.limit, lim),
			     aud };
	/* One prepared statement each; an empty dialog gives one row with NULL, a missing
	 * one no row. The array text is what jsonb_agg() of the same objects prints. */
	PGresult *res;
	if (h.has_after)
		res = db_exec(db,
			"SELECT (SELECT '[' || string_agg(x.json, ', ' ORDER BY x.seq) || ']' FROM"
			" (SELECT m.seq, m.json FROM messages m"
			"   WHERE m.dialog_id = d.id AND m.seq > $2::bigint "
			"   AND (m.audience = 'all' OR $4 = 'admin' OR ($4 = 'visitor' AND m.sender = 'user'))"
			"   ORDER BY m.seq LIMIT $3::bigint) x)"
			" FROM dialogs d WHERE d.id = $1::bigint", 4, p);
	else
		res = db_exec(db,
			"SELECT (SELECT '[' || string_agg(x.json, ', ' ORDER BY x.seq) || ']' FROM"
			" (SELECT m.seq, m.json FROM messages m"
			"   WHERE m.dialog_id = d.id "
			"   AND (m.audience = 'all' OR $4 = 'admin' OR ($4 = 'visitor' AND m.sender = 'user'))"
			"   AND $2::bigint >= 0"
			"   ORDER BY m.seq DESC LIMIT $3::bigint) x)"
			" FROM dialogs d WHERE d.id = $1::bigint", 4, p);
	int rc = db_one_row(&res);
	if (rc != DB_ROW_ONE)
		return rc;
	*json = xstrdup(PQgetisnull(res, 0, 0) ? "[]" : PQgetvalue(res, 0, 0));
	*empty = strcmp(*json, "[]") == 0;
	PQclear(res);
	return 0;
}

static const struct lp_ops messages_ops = { history_fetch, "no such dialog" };

/* admin: every message (the operator); else the site audience, which for the visitor
 * without a cursor includes their own messages. */
static int messages_get(struct req *r, int admin)
{
	struct v_messages_query mq;
	struct verr e = { 0 };
	if (v_messages_query(r->query, app_cfg.longpoll_max_wait, &mq, &e) < 0)
		return http_verr(r, &e);
	/* A visitor's history (no cursor) shows their own messages too: a page refresh
	 * must show the whole conversation. With a cursor, the site audience only. */
	struct history h = { .has_after = mq.has_after, .after = mq.after, .limit = mq.limit,
		             .reader = admin ? HIST_ADMIN : mq.has_after ? HIST_SITE : HIST_VISITOR };
	struct lp_query q;
	memset(&q, 0, sizeof q);
	q.ops = &messages_ops;
	q.dialog_id = r->ids[0];
	q.every_audience = h.reader != HIST_SITE; /* woken by messages of every audience */
	memcpy(q.arg, &h, sizeof h);
	return lp_serve(r, &q, mq.wait);
}

static int h_messages_get(struct req *r)
{
	return messages_get(r, 1);
}

static int h_widget_messages_get(struct req *r)
{
	int64_t assistant;
	if (caller_widget_dialog(r, &assistant) < 0)
		return ROUTE_DONE;
	return messages_get(r, 0);
}

/* Answer a chatai_rest_*_post() result: 201 when stored now, 200 for a known client_id. */
static int post_answer(struct req *r, PGresult *res, int wrap)
{
	if (!res) {
		http_db_error(r, "post message");
		return ROUTE_DONE;
	}
	int created = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (wrap) {
		struct buf b = { 0 };
		buf_printf(&b, "{\"user_message\":%s}", PQgetvalue(res, 0, 0));
		http_json(r, created ? 201 : 200, b.p);
		buf_free(&b);
	} else {
		http_json(r, created ? 201 : 200, PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return ROUTE_DONE;
}

static int h_messages_post(struct req *r)
{
	struct v_post in;
	struct verr e = { 0 };
	if (v_post(req_body(r), "manager", &in, &e) < 0)
		return http_verr(r, &e);
	char op[I64_TEXT];
	const char *p[4] = { req_id(r), i64_text(r->op.id, op), in.text, in.client_id };
	PGresult *res = db_exec(r->db,
		"SELECT message::text, created FROM chatai_rest_operator_post($1::bigint, $2::bigint, $3, $4)", 4, p);
	free(in.text);
	return post_answer(r, res, 0);
}

static int h_widget_messages_post(struct req *r)
{
	int64_t assistant;
	if (caller_widget_dialog(r, &assistant) < 0)
		return ROUTE_DONE;
	struct v_post in;
	struct verr e = { 0 };
	if (v_post(req_body(r), "user", &in, &e) < 0)
		return http_verr(r, &e);
	struct post_result pr;
	postbatch_visitor(r, r->ids[0], in.text, in.client_id, &pr);
	free(in.text);
	if (pr.status != DB_OK) {
		struct db outcome = { .status = pr.status };
		memcpy(outcome.sqlstate, pr.sqlstate, sizeof outcome.sqlstate);
		snprintf(outcome.errmsg, sizeof outcome.errmsg, "%s", pr.errmsg);
		http_db_error_of(r, &outcome, "post message");
		return ROUTE_DONE;
	}
	/* Its answer job is the worker's, or this request's once the answer is out. */
	if (pr.created)
		inlineai_note_post();
	struct buf b = { 0 };
	buf_printf(&b, "{\"user_message\":%s}", pr.message);
	http_json(r, pr.created ? 201 : 200, b.p);
	buf_free(&b);
	free(pr.message);
	return ROUTE_DONE;
}

/* clang-format off */
const struct route messages_routes[] = {
	{ "GET", "/api/dialogs/{id}/messages", h_messages_get, ROUTE_OPERATOR },
	{ "POST", "/api/dialogs/{id}/messages", h_messages_post, ROUTE_OPERATOR | ROUTE_BODY },
	{ "GET", "/api/widget/dialogs/{id}/messages", h_widget_messages_get, ROUTE_WIDGET },
	{ "POST", "/api/widget/dialogs/{id}/messages", h_widget_messages_post, ROUTE_WIDGET | ROUTE_BODY | ROUTE_RATE_MESSAGES },
	{ 0 },
};
/* clang-format on */
