/* SPDX-License-Identifier: MIT */
/*
 * request: one parsed request head. /health and /metrics are answered here; /ws and /sse
 * pick their transport (client.h), read the cursor and the credentials, send the auth
 * query and act on its answer: the stream opens and joins the hub, or is refused the
 * transport's way (HTTP status, or WebSocket close code).
 */
#include "autoconfig.h"
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "metrics.h"
#include "pgfeed.h"
#include "token.h"
#include "util.h"

/* ---- the auth query and its answer -------------------------------------------- */

void request_refuse(struct client *c, int status, const char *why)
{
	metrics.auth_refused_total++;
	hub_sub_leave(&c->sub);
	c->auth_msg = 0;
	c->tr->refuse(c, status, why);
	http_req_free(c->req);
	c->req = NULL;
}

static void request_allow(struct client *c, const struct auth_result *ar)
{
	c->session_id = ar->session_id;
	if (ar->expires_in > 0)
		c->expires_at = loop_now() + ar->expires_in;
	c->tr->open(c);
	conn_set_state(c, CS_OPEN);
	http_req_free(c->req);
	c->req = NULL;
	if (c->sub.kind == CHAN_INBOX) {
		hub_sub_start(&c->sub, 0, 0);
		return;
	}
	/* A cursor past the dialog's end is not trusted: start from the end. */
	if (c->since >= 0 && c->since < ar->last_seq)
		hub_sub_start(&c->sub, c->since, 1);
	else
		hub_sub_start(&c->sub, ar->last_seq, 0);
}

static void request_auth_done(void *arg, PGresult *res)
{
	struct client *c = arg;
	struct auth_result ar;
	c->pending_jobs--;
	if (c->state != CS_AUTH && !(c->state == CS_OPEN && c->auth_msg == 2)) {
		free(c->auth_hash);
		c->auth_hash = NULL;
		return; /* closed meanwhile: freed by the reaper */
	}
	c->auth_msg = 0;
	if (c->is_visitor)
		auth_visitor_decide(res, c->auth_hash, c->assistant_id,
		                    c->req && c->req->origin[0] ? c->req->origin : NULL, &ar);
	else
		auth_operator_decide(res, c->sub.kind != CHAN_INBOX, &ar);
	free(c->auth_hash);
	c->auth_hash = NULL;
	if (!ar.status && !c->is_visitor && revoke_has(ar.session_id)) {
		/* Read before a revocation that has arrived since (see revoke.c). */
		ar.status = 401;
		ar.why = "session revoked";
	}
	if (ar.status)
		request_refuse(c, ar.status, ar.why);
	else
		request_allow(c, &ar);
}

/* The auth query is about to go: CS_AUTH, or (first-message auth, the WebSocket already
 * open) CS_OPEN with auth_msg 2. */
static void auth_wait(struct client *c)
{
	if (c->auth_msg)
		c->auth_msg = 2;
	else
		conn_set_state(c, CS_AUTH);
	c->pending_jobs++;
}

static void auth_start_visitor(struct client *c, const struct http_route *rt, int ticket, const char *tok)
{
	struct http_req *r = c->req;
	char hash[TOKEN_HASH_CHARS + 1], d[24], aid[32];
	const char *params[2];
	snprintf(d, sizeof(d), "%lld", (long long)rt->dialog_id);
	c->is_visitor = 1;
	if (http_query_param(r->url, "assistant_id", aid, sizeof(aid)) < 0 ||
	    parse_int64(aid, 1, INT64_MAX, &c->assistant_id) != 0) {
		request_refuse(c, 403, "assistant_id required");
		return;
	}
	token_hash(tok, hash);
	params[0] = d;
	params[1] = hash;
	if (pgfeed_queue_len() >= QUERY_QUEUE_MAX) {
		request_refuse(c, 503, "server busy: try again");
		return;
	}
	c->auth_hash = xstrdup(hash);
	hub_sub_join(&c->sub, CHAN_SITE, rt->dialog_id);
	auth_wait(c);
	pgfeed_query(ticket ? auth_visitor_ticket_sql : auth_visitor_sql, 2, params, 0,
	             request_auth_done, c);
}

static void auth_start_operator(struct client *c, const struct http_route *rt, int ticket, const char *tok)
{
	char hash[TOKEN_HASH_CHARS + 1], d[24];
	const char *params[2];
	snprintf(d, sizeof(d), "%lld", (long long)rt->dialog_id);
	if (pgfeed_queue_len() >= QUERY_QUEUE_MAX) {
		request_refuse(c, 503, "server busy: try again");
		return;
	}
	token_hash(tok, hash);
	params[0] = hash;
	params[1] = rt->channel == CHAN_INBOX ? "0" : d;
	hub_sub_join(&c->sub, rt->channel, rt->dialog_id);
	auth_wait(c);
	pgfeed_query(ticket ? auth_operator_ticket_sql : auth_operator_sql, 2, params, 0, request_auth_done, c);
}

void request_auth_start(struct client *c, const struct http_route *rt, int ticket, const char *tok)
{
	c->expires_at = 0;
	if (rt->channel == CHAN_SITE)
		auth_start_visitor(c, rt, ticket, tok);
	else
		auth_start_operator(c, rt, ticket, tok);
}

/* ---- the request head --------------------------------------------------------- */

/* ?since= (an event stream also takes Last-Event-ID and ?last_event_id=). 0 or -1. */
static int parse_cursor(const struct http_req *r, int event_id, int64_t *out)
{
	char v[32];
	*out = -1;
	const char *names[3] = { "since", "last_event_id", NULL };
	if (event_id && r->last_event_id[0]) {
		if (parse_int64(r->last_event_id, 0, INT64_MAX, out) != 0)
			return -1;
		return 0;
	}
	for (int i = 0; names[i]; i++) {
		if (!event_id && i > 0)
			break;
		int n = http_query_param(r->url, names[i], v, sizeof(v));
		if (n == QUERY_ABSENT)
			continue;
		if (n < 0 || parse_int64(v, 0, INT64_MAX, out) != 0)
			return -1;
		return 0;
	}
	return 0;
}

/* /health and /metrics. */
static void request_status(struct client *c, const struct http_route *rt)
{
	char *body;
	if (rt->transport == ROUTE_HEALTH) {
		body = metrics_health(pgfeed_listen_up(), pgfeed_query_up(), conn_redis_state());
		int ok = pgfeed_listen_up() && pgfeed_query_up();
		tr_http_respond(c, ok ? 200 : 503, "application/json; charset=utf-8", body, NULL);
	} else {
		body = metrics_render(pgfeed_listen_up(), pgfeed_query_up(), hub_chan_count(),
		                      pgfeed_queue_len(), pgfeed_reconnects());
		tr_http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, NULL);
	}
	free(body);
}

/* The stream's credentials: a ticket or a token from the URL, or (a transport that can)
 * the first message. */
static void request_credentials(struct client *c, const struct http_route *rt)
{
	struct http_req *r = c->req;
	char tok[128];
	tok[0] = '\0';
	/* A single-use stream ticket (POST /api/stream-tickets) stands for the token: the
	 * clients we ship keep their tokens out of URLs; ?token= / ?visitor_token= still work. */
	int tr = http_query_param(r->url, "ticket", tok, sizeof(tok));
	int ticket = tr != QUERY_ABSENT;
	if (ticket && (tr < 0 || !token_well_formed(tok))) {
		memset(tok, 0, sizeof(tok));
		request_refuse(c, 401, "invalid or expired ticket");
		return;
	}
	if (!ticket) {
		int n = http_query_param(r->url, rt->channel == CHAN_SITE ? "visitor_token" : "token", tok, sizeof(tok));
		if (n == QUERY_ABSENT && c->tr->await_credentials) {
			c->tr->await_credentials(c);
			return;
		}
		if (n < 0 || !token_well_formed(tok)) {
			memset(tok, 0, sizeof(tok));
			request_refuse(c, 401, rt->channel == CHAN_SITE ? "visitor_token required" : "token required");
			return;
		}
	}
	request_auth_start(c, rt, ticket, tok);
	memset(tok, 0, sizeof(tok));
}

/* The transport of each stream route. */
static const struct transport_ops *const stream_transport[] = {
	[ROUTE_WS] = &transport_ws,
	[ROUTE_SSE] = &transport_sse,
};

void request_route(struct client *c)
{
	struct http_req *r = c->req;
	struct http_route rt;
	if (listener_forwarded_for(c) != 0)
		return;
	if (log_enabled(LOG_LVL_DEBUG)) {
		/* Tokens and tickets of the query string never reach the log. */
		char safe[HTTP_URL_MAX + 32];
		log_redact(r->url, safe, sizeof(safe));
		conn_log(c, LOG_LVL_DEBUG, "request %s", safe);
	}
	http_route_parse(r->url, &rt);
	if (r->method != HTTP_GET) {
		tr_http_error(c, 405, "method_not_allowed", "only GET is served here", NULL);
		return;
	}
	if (rt.transport == ROUTE_NONE) {
		tr_http_error(c, 404, "not_found", "no such stream", NULL);
		return;
	}
	if (rt.transport == ROUTE_HEALTH || rt.transport == ROUTE_METRICS) {
		request_status(c, &rt);
		return;
	}
	const struct transport_ops *tr = stream_transport[rt.transport];
	if (tr->check && tr->check(c) != 0)
		return;
	conn_set_transport(c, tr);
	/* The Origin goes to PostgreSQL as text (widget streams): bytes that are not UTF-8
	 * would make the query fail (503). Refused here, before any query, on every stream. */
	if (r->origin[0] && !utf8_valid(r->origin, strlen(r->origin))) {
		request_refuse(c, 403, "the Origin header is not valid UTF-8");
		return;
	}
	c->dialog_id = rt.dialog_id;
	if (parse_cursor(r, tr->event_id_cursor, &c->since) != 0) {
		tr->bad_cursor(c);
		return;
	}
	request_credentials(c, &rt);
}
