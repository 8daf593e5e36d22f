/* SPDX-License-Identifier: MIT */
/*
 * session: the operator's login session (POST /api/auth/login, POST /api/auth/logout,
 * GET /api/me).
 *
 * Secrets never reach SQL or logs in clear: the bearer token is stored as its SHA-256.
 * A login for an unknown email still runs one password_verify() against a dummy hash,
 * so the answer time does not tell which emails exist.
 */
#include "autoconfig.h"
#include "routes.h"
#include "authcache.h"
#include "credis.h"
#include "log.h"
#include "request.h"
#include "router.h"
#include "appcfg.h"
#include "token.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

/* The yescrypt hash (libxcrypt's default cost, as password_hash() makes) of a random
 * password that was thrown away: checking a password against it costs what checking a
 * real one does, and nothing matches it. */
static const char dummy_hash[] = "$y$j9T$UVKzMeBPFbGfGvoaG/vRU1$QAVbDji7kAlXSD4En4gi1LSv2GA9zVteB/wmp07dqM9";

static int h_login(struct req *r)
{
	struct v_login in;
	struct verr e = { 0 };
	if (v_login(req_body(r), &in, &e) < 0)
		return http_verr(r, &e);
	const char *p[1] = { in.email };
	PGresult *res = db_exec(r->db,
		"SELECT id, password_hash FROM operators WHERE lower(email) = lower($1)", 1, p);
	if (!res) {
		http_db_error(r, "login");
		return ROUTE_DONE;
	}
	int found = PQntuples(res) == 1;
	char *id = found ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
	char *ph = found ? xstrdup(PQgetvalue(res, 0, 1)) : NULL;
	PQclear(res);
	int ok;
	if (found) {
		ok = password_verify(in.password, ph);
	} else {
		(void)password_verify(in.password, dummy_hash);
		ok = 0;
	}
	free(ph);
	if (!ok) {
		free(id);
		log_info("login refused (bad email or password) from %s", r->remote_addr ? r->remote_addr : "-");
		return http_error(r, 401, "invalid_credentials", "wrong email or password", NULL);
	}
	char tok[TOKEN_CHARS + 1], hash[TOKEN_HASH_CHARS + 1], ttl[I64_TEXT];
	if (token_new(tok) < 0) {
		free(id);
		return http_error(r, 500, "internal_error", "no entropy for a token", NULL);
	}
	token_hash(tok, hash);
	const char *q[3] = { id, hash, i64_text(app_cfg.token_ttl, ttl) };
	res = db_exec(r->db,
		"WITH s AS (INSERT INTO sessions (operator_id, token_hash, expires_at)"
		"  VALUES ($1::bigint, $2, now() + make_interval(secs => $3::bigint)) RETURNING id, operator_id),"
		" u AS (UPDATE operators SET last_seen_at = now() WHERE id = $1::bigint)"
		" SELECT s.id, jsonb_build_object('id', o.id, 'email', o.email, 'name', o.name, 'role', o.role)::text"
		" FROM s JOIN operators o ON o.id = s.operator_id", 3, q);
	free(id);
	if (!res) {
		http_db_error(r, "login session");
		return ROUTE_DONE;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		return http_error(r, 401, "invalid_credentials", "wrong email or password", NULL);
	}
	struct buf b = { 0 };
	buf_printf(&b, "{\"token\":\"%s\",\"user\":%s}", tok, PQgetvalue(res, 0, 1));
	log_debug("login: operator session %s opened", PQgetvalue(res, 0, 0));
	PQclear(res);
	http_json(r, 200, b.p);
	buf_free(&b);
	return ROUTE_DONE;
}

static int h_logout(struct req *r)
{
	char sid[I64_TEXT];
	const char *p[1] = { i64_text(r->op.session_id, sid) };
	/* The trigger sessions_changed tells the notifier and every REST process (their
	 * session caches) with a NOTIFY that leaves at commit. */
	PGresult *res = db_exec(r->db,
		"UPDATE sessions SET revoked_at = now() WHERE id = $1::bigint AND revoked_at IS NULL", 1, p);
	if (http_db_done(r, res, "logout") < 0)
		return ROUTE_DONE;
	/* This process forgets at once; the others when the trigger's NOTIFY arrives. */
	(void)authcache_note("revoke", r->op.session_id);
	(void)credis_presence_clear(credis_thread(), r->op.id);
	http_no_content(r);
	return ROUTE_DONE;
}

static int h_me(struct req *r)
{
	http_json(r, 200, r->op.json);
	return ROUTE_DONE;
}

const struct route session_routes[] = {
	{ "POST", "/api/auth/login", h_login, ROUTE_BODY | ROUTE_RATE_LOGIN },
	{ "POST", "/api/auth/logout", h_logout, ROUTE_OPERATOR },
	{ "GET", "/api/me", h_me, ROUTE_OPERATOR },
	{ 0 },
};
