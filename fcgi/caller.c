/* SPDX-License-Identifier: MIT */
/* caller: who is calling (see caller.h). */
#include "autoconfig.h"
#include "caller.h"
#include "authcache.h"
#include "origin.h"
#include "credis.h"
#include "ratelimit.h"
#include "request.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int caller_operator(struct req *r)
{
	const char *tok = bearer_token(r->authorization);
	if (!tok || !token_well_formed(tok)) {
		http_error(r, 401, "unauthorized", "a valid bearer token is required", NULL);
		return -1;
	}
	char hash[TOKEN_HASH_CHARS + 1];
	token_hash(tok, hash);
	struct ac_session cs;
	if (authcache_session_get(hash, &cs)) {
		r->op.session_id = cs.session_id;
		r->op.id = cs.operator_id;
		r->op.is_admin = cs.is_admin;
		r->op.json = cs.json;
		(void)credis_presence_touch(credis_thread(), r->op.id, CREDIS_PRESENCE_TTL);
		return 0;
	}
	uint64_t gen = authcache_gen();
	const char *p[1] = { hash };
	/* The UPDATE runs whether or not the outer query reads it (a data-modifying CTE):
	 * last_seen_at moves at most once a minute per operator, and this query runs only
	 * when the session is not in the process's cache (authcache.h). */
	PGresult *res = db_exec(r->db,
		"WITH s AS (SELECT s.id AS sid, s.token_hash, o.id AS oid, o.role,"
		"  jsonb_build_object('id', o.id, 'email', o.email, 'name', o.name, 'role', o.role)::text AS j,"
		"  floor(extract(epoch FROM s.expires_at))::bigint AS exp"
		"  FROM sessions s JOIN operators o ON o.id = s.operator_id"
		"  WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()),"
		" u AS (UPDATE operators SET last_seen_at = now() WHERE id = (SELECT oid FROM s)"
		"  AND (last_seen_at IS NULL OR last_seen_at < now() - interval '1 minute') RETURNING 1)"
		" SELECT sid, oid, role, j, token_hash, exp FROM s", 1, p);
	if (!res) {
		http_db_error(r, "auth");
		return -1;
	}
	if (PQntuples(res) != 1 || !token_equal(PQgetvalue(res, 0, 4), hash)) {
		PQclear(res);
		http_error(r, 401, "unauthorized", "the token is unknown, expired or revoked", NULL);
		return -1;
	}
	r->op.session_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	r->op.id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	r->op.is_admin = strcmp(PQgetvalue(res, 0, 2), "admin") == 0;
	r->op.json = xstrdup(PQgetvalue(res, 0, 3));
	cs.session_id = r->op.session_id;
	cs.operator_id = r->op.id;
	cs.is_admin = r->op.is_admin;
	cs.expires_s = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	cs.json = r->op.json;
	authcache_session_put(hash, &cs, gen);
	PQclear(res);
	/* Presence for operators_online: operators.last_seen_at above is the rule's input
	 * (chatai_operators_online()); Redis, when configured, caches it for every host. */
	(void)credis_presence_touch(credis_thread(), r->op.id, CREDIS_PRESENCE_TTL);
	return 0;
}

/* The visitor token of the request: X-Visitor-Token or ?visitor_token=. Owned copy or NULL. */
static char *visitor_token(struct req *r)
{
	if (r->visitor_token)
		return xstrdup(r->visitor_token);
	char *v = NULL;
	if (query_get(r->query, "visitor_token", &v) == 1)
		return v;
	free(v);
	return NULL;
}

int caller_widget_origin(struct req *r, const char *allowed_json)
{
	free(r->cors_origin);
	r->cors_origin = NULL;
	if (!r->origin)
		return 0;
	if (!origin_allowed_json(r->origin, allowed_json)) {
		http_error(r, 403, "forbidden", "this origin may not use this assistant", NULL);
		return -1;
	}
	r->cors_origin = xstrdup(r->origin);
	return 0;
}

int caller_widget_dialog(struct req *r, int64_t *assistant_id)
{
	char *tok = visitor_token(r);
	if (!tok || !token_well_formed(tok)) {
		free(tok);
		http_error(r, 401, "unauthorized", "a visitor token is required (X-Visitor-Token or visitor_token)",
		           NULL);
		return -1;
	}
	char hash[TOKEN_HASH_CHARS + 1];
	token_hash(tok, hash);
	free(tok);
	struct ac_dialog d;
	if (!authcache_dialog_get(r->ids[0], hash, &d)) {
		/* Any of the dialog's visitor tokens opens it (dialog_visitor_tokens, sql/001_tables.sql). */
		uint64_t gen = authcache_gen();
		const char *p[2] = { req_id(r), hash };
		PGresult *res = http_one_row(
			r,
			db_exec(r->db,
				"SELECT COALESCE((SELECT t.token_hash FROM dialog_visitor_tokens t"
				" WHERE t.dialog_id = d.id AND t.token_hash = $2), ''),"
				" d.assistant_id, to_jsonb(a.allowed_origins)::text"
				" FROM dialogs d JOIN assistants a ON a.id = d.assistant_id WHERE d.id = $1::bigint",
				2, p),
			"widget dialog", "no such dialog");
		if (!res)
			return -1;
		snprintf(d.token_hash, sizeof d.token_hash, "%s", PQgetvalue(res, 0, 0));
		d.assistant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		d.allowed_json = xstrdup(PQgetvalue(res, 0, 2));
		PQclear(res);
		if (token_equal(d.token_hash, hash))
			authcache_dialog_put(r->ids[0], &d, gen);
	}
	int rc = -1;
	if (caller_widget_origin(r, d.allowed_json) < 0) {
		/* answered */
	} else if (!token_equal(d.token_hash, hash)) {
		http_error(r, 403, "forbidden", "this visitor token does not open this dialog", NULL);
	} else if (ratelimit_request(r) == 0) { /* counted once the dialog is ours */
		*assistant_id = d.assistant_id;
		rc = 0;
	}
	free(d.allowed_json);
	return rc;
}
