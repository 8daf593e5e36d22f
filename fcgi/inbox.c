/* SPDX-License-Identifier: MIT */
/*
 * inbox: the operator-wide feed for polling-only clients (GET /api/inbox).
 *
 * Cursor scheme of docs/internals.md: a read takes the snapshot xmin `cur` first, then
 * returns the events of transactions in [cursor, cur), by id. Every transaction below
 * `cur` has ended, so no event can later appear below a cursor handed out: nothing is
 * skipped even though sequence ids commit out of order. A page is cut at INBOX_PAGE
 * events; its cursor then also remembers the last id read (cursor.h). Within a page,
 * the dialog_updated events of one dialog are folded into the last one (they all carry
 * the dialog as it is now).
 */
#include "autoconfig.h"
#include "app.h"
#include "longpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INBOX_PAGE 500

int inbox_fetch(struct db *db, struct lp_query *q, char **json, int *empty)
{
	PGresult *res = db_exec(db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", 0, NULL);
	if (!res)
		return -1;
	int64_t cur = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	q->recheck = 0;
	char cbuf[CURSOR_MAX];
	if (!q->has_cursor) {
		/* First call: no events, just where to start. */
		q->cursor.lo = q->cursor.hi = cur;
		q->cursor.after_id = 0;
		q->has_cursor = 1;
		cursor_encode(&q->cursor, cbuf);
		*json = xasprintf("{\"cursor\":\"%s\",\"events\":[]}", cbuf);
		*empty = 0;
		return 0;
	}
	char lo[24], hi[24], after[24], cs[24], lim[24];
	snprintf(lo, sizeof lo, "%lld", (long long)q->cursor.lo);
	snprintf(hi, sizeof hi, "%lld", (long long)q->cursor.hi);
	snprintf(after, sizeof after, "%lld", (long long)q->cursor.after_id);
	snprintf(cs, sizeof cs, "%lld", (long long)cur);
	snprintf(lim, sizeof lim, "%d", INBOX_PAGE);
	const char *p[5] = { lo, hi, after, cs, lim };
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
		q->cursor.hi = cur;
		q->cursor.after_id = last;
	} else {
		q->cursor.lo = q->cursor.hi = cur;
		q->cursor.after_id = 0;
	}
	q->recheck = n == 0 && strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	cursor_encode(&q->cursor, cbuf);
	*json = xasprintf("{\"cursor\":\"%s\",\"events\":%s}", cbuf, PQgetvalue(res, 0, 2));
	*empty = n == 0;
	PQclear(res);
	return 0;
}

int h_inbox(struct req *r)
{
	struct lp_query q;
	struct verr e = { 0 };
	memset(&q, 0, sizeof q);
	q.kind = LPQ_INBOX;
	char *c = NULL;
	int rc = query_get(r->query, "cursor", &c);
	if (rc < 0 || (rc == 1 && *c && cursor_decode(c, &q.cursor) < 0)) {
		free(c);
		http_error(r, 400, "validation_failed", "cursor is not a cursor given by this API", "cursor");
		return ROUTE_DONE;
	}
	q.has_cursor = rc == 1 && *c;
	free(c);
	struct v_messages_query mq;
	if (v_messages_query(r->query, app_cfg.longpoll_max_wait, &mq, &e) < 0) {
		app_verr(r, &e);
		return ROUTE_DONE;
	}
	/* A first call answers at once: the client learns where the feed starts. */
	return lp_serve(r, &q, q.has_cursor ? mq.wait : 0);
}
