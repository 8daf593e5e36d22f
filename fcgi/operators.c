/* SPDX-License-Identifier: MIT */
/*
 * operators: the operator accounts over REST (docs/api.md "Operators"): the list, create
 * and change of an admin, and an operator's own profile (PATCH /api/me). Writes go
 * through chatai_operator_*() of sql/006_admin.sql, as chatai-ctl's do. A disable
 * or an admin's new password revokes every session of the operator in the same
 * transaction, an operator's own new password (PATCH /api/me) every session but the one
 * asking; this process forgets them at once, the other processes and the notifier on the
 * trigger's NOTIFY.
 */
#include "autoconfig.h"
#include "routes.h"
#include "adminval.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "authcache.h"
#include "credis.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char last_admin[] = "the last active admin cannot be disabled or demoted";

static int h_operators_list(struct req *r)
{
	PGresult *res = db_exec(
		r->db,
		"SELECT jsonb_build_object('operators', COALESCE(jsonb_agg(chatai_operator_json(o) ORDER BY o.id),"
		" '[]'::jsonb))::text FROM operators o",
		0, NULL);
	return admin_answer(r, res, 200, "operators list", NULL, NULL);
}

/* Names for assignment, to any operator: the active operators by name, never an email
 * or a hash. */
static int h_team(struct req *r)
{
	PGresult *res = db_exec(
		r->db,
		"SELECT jsonb_build_object('operators', COALESCE(jsonb_agg(jsonb_build_object('id', o.id,"
		" 'name', o.name, 'role', o.role) ORDER BY o.name, o.id), '[]'::jsonb))::text"
		" FROM operators o WHERE o.disabled_at IS NULL",
		0, NULL);
	return admin_answer(r, res, 200, "team", NULL, NULL);
}

/* Hash a new password; -1 with 500 set. */
static int hash_password(struct req *r, const char *pw, char **hash)
{
	*hash = NULL;
	if (!pw)
		return 0;
	if (password_hash(pw, hash) < 0) {
		http_error(r, 500, "internal_error", "the password could not be hashed", NULL);
		return -1;
	}
	return 0;
}

static int h_operators_create(struct req *r)
{
	const cJSON *o = req_body(r);
	const char *email, *role, *pw;
	char *name = NULL, *hash = NULL;
	struct verr e = { 0 };
	if (av_email(o, "email", &email, &e) < 0 || av_name(o, "name", 1, &name, &e) < 0 ||
	    av_role(o, "role", 1, &role, &e) < 0 || av_password(o, "password", 1, &pw, &e) < 0) {
		http_verr(r, &e);
		goto out;
	}
	if (hash_password(r, pw, &hash) < 0)
		goto out;
	const char *p[4] = { email, name, role, hash };
	PGresult *res = db_exec(r->db, "SELECT chatai_operator_create($1, $2, $3, $4)::text", 4, p);
	admin_answer(r, res, 201, "operator create", "role", NULL);
out:
	free(name);
	free(hash);
	return ROUTE_DONE;
}

/* Run chatai_operator_update() and answer; the revoked sessions and the operator's
 * cached entries are forgotten here at once. A new password (hash) revokes every session
 * of the operator but keep (the caller's own, PATCH /api/me; NULL: none). */
static int operator_update(struct req *r, const char *id, const char *name, const char *role, int disabled,
			   const char *hash, const char *keep)
{
	const char *p[6] = { id, name, role, disabled < 0 ? NULL : disabled ? "true" : "false", hash, keep };
	PGresult *res =
		db_exec(r->db,
			"SELECT u.operator::text, array_to_json(u.revoked)::text"
			" FROM chatai_operator_update($1::bigint, $2, $3, $4::boolean, $5, $6::bigint) u",
			6, p);
	if (!res) {
		admin_db_error(r, "operator update", "role", last_admin);
		return ROUTE_DONE;
	}
	int64_t oid = strtoll(id, NULL, 10);
	cJSON *rev = cJSON_Parse(PQgetvalue(res, 0, 1));
	const cJSON *it;
	cJSON_ArrayForEach(it, rev)(void) authcache_note("revoke", (int64_t)it->valuedouble);
	cJSON_Delete(rev);
	(void)authcache_note("operator", oid);
	if (disabled == 1) /* not online any more (operators_online) */
		(void)credis_presence_clear(credis_thread(), oid);
	http_json(r, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	return ROUTE_DONE;
}

static int h_operator_patch(struct req *r)
{
	const cJSON *o = req_body(r);
	const char *role, *pw;
	char *name = NULL, *hash = NULL;
	int disabled;
	struct verr e = { 0 };
	if (av_name(o, "name", 0, &name, &e) < 0 || av_role(o, "role", 0, &role, &e) < 0 ||
	    av_bool(o, "disabled", &disabled, &e) < 0 || av_password(o, "password", 0, &pw, &e) < 0) {
		http_verr(r, &e);
		goto out;
	}
	if (!name && !role && disabled < 0 && !pw) {
		http_error(r, 400, "validation_failed",
			   "nothing to change: give name, role, disabled or password", NULL);
		goto out;
	}
	if (hash_password(r, pw, &hash) < 0)
		goto out;
	operator_update(r, req_id(r), name, role, disabled, hash, NULL);
out:
	free(name);
	free(hash);
	return ROUTE_DONE;
}

/* Is pw the password of the operator asking? 1, 0, or -1 with the answer set. */
static int current_password_ok(struct req *r, const char *pw)
{
	char id[I64_TEXT];
	const char *p[1] = { i64_text(r->op.id, id) };
	PGresult *res = db_exec(r->db, "SELECT password_hash FROM operators WHERE id = $1::bigint", 1, p);
	if (!res) {
		http_db_error(r, "me");
		return -1;
	}
	int ok = PQntuples(res) == 1 && password_verify(pw, PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

static int h_me_patch(struct req *r)
{
	const cJSON *o = req_body(r);
	const char *pw, *cur;
	char *name = NULL, *hash = NULL, id[I64_TEXT], keep[I64_TEXT];
	struct verr e = { 0 };
	if (av_name(o, "name", 0, &name, &e) < 0 || av_password(o, "password", 0, &pw, &e) < 0 ||
	    av_string(o, "current_password", pw != NULL, TEXT_PASSWORD_MAX, &cur, &e) < 0) {
		http_verr(r, &e);
		goto out;
	}
	if (!name && !pw) {
		http_error(r, 400, "validation_failed", "nothing to change: give name or password", NULL);
		goto out;
	}
	if (cur) {
		int ok = current_password_ok(r, cur);
		if (ok < 0)
			goto out;
		if (!ok) {
			http_error(r, 400, "validation_failed", "the current password is wrong",
				   "current_password");
			goto out;
		}
	}
	if (hash_password(r, pw, &hash) < 0)
		goto out;
	operator_update(r, i64_text(r->op.id, id), name, NULL, -1, hash, i64_text(r->op.session_id, keep));
out:
	free(name);
	free(hash);
	return ROUTE_DONE;
}

const struct route operators_routes[] = {
	{ "PATCH", "/api/me", h_me_patch, ROUTE_OPERATOR | ROUTE_BODY },
	{ "GET", "/api/operators", h_operators_list, ROUTE_OPERATOR | ROUTE_ADMIN },
	{ "GET", "/api/team", h_team, ROUTE_OPERATOR },
	{ "POST", "/api/operators", h_operators_create, ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
	{ "PATCH", "/api/operators/{id}", h_operator_patch, ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
	{ 0 },
};
