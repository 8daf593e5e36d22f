/* SPDX-License-Identifier: MIT */
/*
 * assistants: the operator side's assistants: the list, one assistant, and the admin's
 * create and PATCH (through chatai_assistant_create() / chatai_assistant_update() of
 * sql/006_admin.sql, as chatai-ctl writes). Their knowledge entries: knowledge.c.
 */
#include "autoconfig.h"
#include "routes.h"
#include "adminval.h"
#include "authcache.h"
#include "request.h"
#include "validate.h"

#include <stdlib.h>

static int h_assistants_list(struct req *r)
{
	PGresult *res = db_exec(r->db,
		"SELECT jsonb_build_object('assistants', COALESCE(jsonb_agg(chatai_assistant_json(a) ORDER BY a.id),"
		" '[]'::jsonb))::text FROM assistants a", 0, NULL);
	return admin_answer(r, res, 200, "assistants list", NULL, NULL);
}

static int h_assistant_get(struct req *r)
{
	const char *p[1] = { req_id(r) };
	PGresult *res = db_exec(r->db, "SELECT chatai_assistant_json(a)::text FROM assistants a WHERE a.id = $1::bigint",
	                        1, p);
	return admin_answer(r, res, 200, "assistant", NULL, NULL);
}

static int h_assistants_create(struct req *r)
{
	struct v_assistant in;
	struct verr e = { 0 };
	if (v_assistant(req_body(r), 1, &in, &e) < 0)
		return http_verr(r, &e);
	const char *p[3] = { in.name, in.greeting ? in.greeting : "", in.origins ? in.origins : "[]" };
	PGresult *res = db_exec(r->db, "SELECT chatai_assistant_create($1, $2, $3::jsonb)::text", 3, p);
	v_assistant_free(&in);
	return admin_answer(r, res, 201, "assistant create", NULL, NULL);
}

static int h_assistant_update(struct req *r)
{
	struct verr e = { 0 };
	char *patch = av_assistant_patch(req_body(r), &e);
	if (!patch)
		return http_verr(r, &e);
	const char *p[2] = { req_id(r), patch };
	PGresult *res = db_exec(r->db, "SELECT chatai_assistant_update($1::bigint, $2::jsonb)::text", 2, p);
	free(patch);
	if (res)
		(void)authcache_note("assistant", r->ids[0]);
	return admin_answer(r, res, 200, "assistant update", "ts_config", NULL);
}

const struct route assistants_routes[] = {
	{ "GET", "/api/assistants", h_assistants_list, ROUTE_OPERATOR },
	{ "POST", "/api/assistants", h_assistants_create, ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
	{ "GET", "/api/assistants/{id}", h_assistant_get, ROUTE_OPERATOR },
	{ "PATCH", "/api/assistants/{id}", h_assistant_update, ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
	{ 0 },
};
