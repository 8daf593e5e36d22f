/* SPDX-License-Identifier: MIT */
/*
 * inbox: the operator-wide feed for polling-only clients (GET /api/inbox).
 *
 * Cursor scheme of docs/internals.md: a read takes the snapshot xmin `cur` first, then
 * returns the events of transactions in [cursor, cur), by id. Every transaction below
 * `cur` has ended, so no event can later appear below a cursor handed out: nothing is
 * skipped even though sequence ids commit out of order. A page is cut at INBOX_PAGE
 * events; its cursor then also remembers the last id read (inboxcursor.h). Within a page,
 * the dialog_updated events of one dialog are folded into the last one (they all carry
 * the dialog as it is now).
 */
#include "autoconfig.h"
#include "routes.h"
#include "request.h"
#include "router.h"
#include "appcfg.h"
#include "validate.h"
#include "inboxcursor.h"
#include "longpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INBOX_PAGE 500

/* A feed read's parameters (struct lp_query's arg; int64_t only: no padding). */
struct feed {
	struct inbox_cursor cursor; /* where to read from; advanced by feed_fetch */
	int64_t has_cursor;         /* 0 on a first call */
};
_Static_assert(sizeof(struct feed) <= LP_ARG_MAX, "struct feed fits lp_query.arg");

/* Read the feed from f's cursor and advance it (q->recheck set as lp_ops.fetch says). */
static int feed_fetch(struct db *db, struct lp_query *q, struct feed *f, char **json, int *empty)
{
	PGresult *res = db_exec(db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", 0, NULL);
	if (!res)
		return -1;
	int64_t cur = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	q->recheck = 0;
	char cbuf[INBOX_CURSOR_MAX];
	if (!f->has_cursor) {
		/* First call: no events, just where to start. */
		f->cursor.lo = f->cursor.hi = cur;
		f->cursor.after_id = 0;
		f->has_cursor = 1;
		inbox_cursor_encode(&f->cursor, cbuf);
		*json = xasprintf("{\"cursor\":\"%s\",\"events\":[]}", cbuf);
		*empty = 0;
		return 0;
	}
	char lo[I64_TEXT], hi[I64_TEXT], after[I64_TEXT], cs[I64_TEXT], lim[I64_TEXT];
	const char *p[5] = { i64_text(f->cursor.lo, lo), i64_text(f->cursor.hi, hi),
			     i64_text(f->cursor.after_id, after), i64_text(cur, cs),
			     i64_text(INBOX_PAGE, lim) };
	res = db_exec(db,
		"WITH page AS (SELECT e.id, e.dialog_id, e.kind, e.message_id FROM inbox_events e"
		"   WHERE (e.xid >= $1::text::xid8 AND e.xid < $2::text::xid8 AND e.id > $3::bigint)"
		"      OR (e.xid >= $2::text::xid8 AND e.xid < $4::text::xid8)"
		"   ORDER BY e.id LIMIT $5::int),"
		" w AS (SELECT p.*, max(p.id) FILTER (WHERE p.kind = 'dialog_updated')"
		"   OVER (PARTITION BY p.dialog_id) AS last_upd FROM page p),"
		" ev AS (SELECT w.id, CASE WHEN w.kind = 'message'"
		"     THEN (SELECT m.json::jsonb FROM messages m WHERE m.id = w.message_id)"
		"     ELSE (SELECT jsonb_build_object('type', w.kind, 'dialog', chatai_dialog_json(d))"
		"           FROM dialogs d WHERE d.id = w.dialog_id) END AS j"
		"   FROM w WHERE w.kind <> 'dialog_updated' OR w.id = w.last_upd)"
		" SELECT (SELECT count(*) FROM page), (SELECT COALESCE(max(id), 0) FROM page),"
		"  COALESCE((SELECT jsonb_agg(ev.j ORDER BY ev.id) FROM ev WHERE ev.j IS NOT NULL), '[]'::jsonb)::text,"
		"  EXISTS (SELECT 1 FROM inbox_events x WHERE x.xid >= $4::text::xid8)", 5, p);
	if (!res)
		return -1;
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	int64_t last = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	if (n >= INBOX_PAGE) {
		/* Cut short: [lo, cur) is read up to id `last`. */
		f->cursor.hi = cur;
		f->cursor.after_id = last;
	} else {
		f->cursor.lo = f->cursor.hi = cur;
		f->cursor.after_id = 0;
	}
	q->recheck = n == 0 && strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	inbox_cursor_encode(&f->cursor, cbuf);
	*json = xasprintf("{\"cursor\":\"%s\",\"events\":%s}", cbuf, PQgetvalue(res, 0, 2));
	*empty = n == 0;
	PQclear(res);
	return 0;
}

/* lp_ops.fetch of the inbox: the feed in q->arg. */
static int feed_lp_fetch(struct db *db, struct lp_query *q, char **json, int *empty)
{
	struct feed f;
	memcpy(&f, q->arg, sizeof f);
	int rc = feed_fetch(db, q, &f, json, empty);
	memcpy(q->arg, &f, sizeof f);
	return rc;
}

static const struct lp_ops inbox_ops = { feed_lp_fetch, "no such dialog" };

static int h_inbox(struct req *r)
{
	struct feed f;
	struct verr e = { 0 };
	memset(&f, 0, sizeof f);
	char *c = NULL;
	int rc = query_get(r->query, "cursor", &c);
	if (rc < 0 || (rc == 1 && *c && inbox_cursor_decode(c, &f.cursor) < 0)) {
		free(c);
		return http_error(r, 400, "validation_failed", "cursor is not a cursor given by this API",
				  "cursor");
	}
	f.has_cursor = rc == 1 && *c;
	free(c);
	struct v_messages_query mq;
	if (v_messages_query(r->query, app_cfg.longpoll_max_wait, &mq, &e) < 0)
		return http_verr(r, &e);
	/* Woken by every message and dialog event (dialog_id 0). */
	struct lp_query q;
	memset(&q, 0, sizeof q);
	q.ops = &inbox_ops;
	memcpy(q.arg, &f, sizeof f);
	/* A first call answers at once: the client learns where the feed starts. */
	return lp_serve(r, &q, f.has_cursor ? mq.wait : 0);
}

const struct route inbox_routes[] = {
	{ "GET", "/api/inbox", h_inbox, ROUTE_OPERATOR },
	{ 0 },
};
