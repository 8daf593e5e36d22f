/* SPDX-License-Identifier: MIT */
/* assistants: the operator side's assistants and their knowledge entries. */
#include "autoconfig.h"
#include "assistants.h"
#include "adminval.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int h_assistants_list(struct req *r)
{
	PGresult *res = db_exec(r->db,
		"SELECT jsonb_build_object('assistants', COALESCE(jsonb_agg(chatai_assistant_json(a) ORDER BY a.id),"
		" '[]'::jsonb))::text FROM assistants a", 0, NULL);
	return admin_answer(r, res, 200, "assistants list", NULL, NULL);
}

int h_assistant_get(struct req *r)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	const char *p[1] = { id };
	PGresult *res = db_exec(r->db, "SELECT chatai_assistant_json(a)::text FROM assistants a WHERE a.id = $1::bigint",
	                        1, p);
	return admin_answer(r, res, 200, "assistant", NULL, NULL);
}

int h_assistants_create(struct req *r)
{
	struct v_assistant in;
	struct verr e = { 0 };
	if (v_assistant(req_body(r), 1, &in, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	const char *p[3] = { in.name, in.greeting ? in.greeting : "", in.origins ? in.origins : "[]" };
	PGresult *res = db_exec(r->db, "SELECT chatai_assistant_create($1, $2, $3::jsonb)::text", 3, p);
	v_assistant_free(&in);
	return admin_answer(r, res, 201, "assistant create", NULL, NULL);
}

int h_knowledge_list(struct req *r)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	const char *p[1] = { id };
	PGresult *res = db_exec(r->db,
		"SELECT jsonb_build_object('knowledge', COALESCE((SELECT jsonb_agg(chatai_knowledge_json(k) ORDER BY k.id)"
		" FROM knowledge k WHERE k.assistant_id = a.id), '[]'::jsonb))::text"
		" FROM assistants a WHERE a.id = $1::bigint", 1, p);
	return admin_answer(r, res, 200, "knowledge list", NULL, NULL);
}

int h_knowledge_create(struct req *r)
{
	struct v_knowledge in;
	struct verr e = { 0 };
	if (v_knowledge(req_body(r), &in, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	const char *p[3] = { id, in.question, in.answer };
	PGresult *res = db_exec(r->db, "SELECT chatai_knowledge_put($1::bigint, $2, $3)::text", 3, p);
	v_knowledge_free(&in);
	return admin_answer(r, res, 201, "knowledge create", NULL, NULL);
}

int h_knowledge_delete(struct req *r)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)r->ids[0]);
	const char *p[1] = { id };
	PGresult *res = db_exec(r->db, "DELETE FROM knowledge WHERE id = $1::bigint RETURNING id", 1, p);
	if (!res) {
		http_db_error(r, "knowledge delete");
		return ROUTE_DONE;
	}
	if (PQntuples(res) == 1)
		http_no_content(r);
	else
		http_error(r, 404, "not_found", "no such knowledge entry", NULL);
	PQclear(res);
	return ROUTE_DONE;
}
