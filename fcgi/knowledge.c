/* SPDX-License-Identifier: MIT */
/*
 * knowledge: an assistant's knowledge entries (docs/api.md): the list, searched with ?q=,
 * the admin's create, PATCH (through chatai_knowledge_put() / chatai_knowledge_update() of
 * sql/006_admin.sql, as chatai-ctl writes) and DELETE, the answer preview and a dialog's
 * suggestions. Ranking and answers are the assistant's own code (ai/kb.c kb_search,
 * ai/answer.c answer_preview), never a copy of it.
 */
#include "autoconfig.h"
#include "routes.h"
#include "adminval.h"
#include "answer.h"
#include "request.h"
#include "validate.h"
#include "inlineai.h"
#include "json.h"
#include "kb.h"

#include <stdlib.h>
#include <string.h>

/* Longest search text (bytes) and most entries a ranked list or suggestions return. */
#define KN_QUERY_MAX       1000
#define KN_RANKED_MAX      50
#define KN_SUGGESTIONS_MAX 5

static int h_knowledge_list(struct req *r)
{
	const char *p[1] = { req_id(r) };
	PGresult *res = db_exec(r->db,
		"SELECT jsonb_build_object('knowledge', COALESCE((SELECT jsonb_agg(chatai_knowledge_json(k) ORDER BY k.id)"
		" FROM knowledge k WHERE k.assistant_id = a.id), '[]'::jsonb))::text"
		" FROM assistants a WHERE a.id = $1::bigint", 1, p);
	return admin_answer(r, res, 200, "knowledge list", NULL, NULL);
}

static int h_knowledge_create(struct req *r)
{
	struct v_knowledge in;
	struct verr e = { 0 };
	if (v_knowledge(req_body(r), &in, &e) < 0)
		return http_verr(r, &e);
	const char *p[3] = { req_id(r), in.question, in.answer };
	PGresult *res = db_exec(r->db, "SELECT chatai_knowledge_put($1::bigint, $2, $3)::text", 3, p);
	v_knowledge_free(&in);
	return admin_answer(r, res, 201, "knowledge create", NULL, NULL);
}

static int h_knowledge_delete(struct req *r)
{
	const char *p[1] = { req_id(r) };
	PGresult *res = db_exec(r->db, "DELETE FROM knowledge WHERE id = $1::bigint RETURNING id", 1, p);
	return http_row(r, res, 204, "knowledge delete", "no such knowledge entry");
}

static int h_knowledge_patch(struct req *r)
{
	const cJSON *o = req_body(r);
	char *q = NULL, *a = NULL;
	struct verr e = { 0 };
	if (av_text(o, "question", 0, &q, &e) < 0 || av_text(o, "answer", 0, &a, &e) < 0) {
		http_verr(r, &e);
	} else if (!q && !a) {
		http_error(r, 400, "validation_failed", "nothing to change: give question or answer", NULL);
	} else {
		const char *p[3] = { req_id(r), q, a };
		PGresult *res =
			db_exec(r->db, "SELECT chatai_knowledge_update($1::bigint, $2, $3)::text", 3, p);
		admin_answer(r, res, 200, "knowledge update", NULL, NULL);
	}
	free(q);
	free(a);
	return ROUTE_DONE;
}

/* Entries of kb_search() as a JSON array; id_key names the id ("id" or "knowledge_id"). */
static cJSON *entries_json(const struct kb_entry *k, size_t n, const char *id_key, int64_t assistant)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, id_key, (double)k[i].id);
		if (assistant)
			cJSON_AddNumberToObject(o, "assistant_id", (double)assistant);
		cJSON_AddStringToObject(o, "question", k[i].question);
		cJSON_AddStringToObject(o, "answer", k[i].answer);
		cJSON_AddNumberToObject(o, "score", k[i].score);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* Answer {key: [ranked entries]} for the text q against assistant. */
static int ranked(struct req *r, int64_t assistant, const char *q, int limit, const char *key,
		  const char *id_key)
{
	struct kb_entry *k = NULL;
	size_t n = 0;
	if (q && kb_search(r->db, assistant, q, limit, &k, &n) < 0) {
		http_db_error(r, "knowledge search");
		return ROUTE_DONE;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, key, entries_json(k, n, id_key, strcmp(id_key, "id") == 0 ? assistant : 0));
	http_json_take(r, 200, json_print(o));
	cJSON_Delete(o);
	kb_entries_free(k, n);
	return ROUTE_DONE;
}

/* 1 when assistant r->ids[0] exists, 0 with the answer (404, database error) set. */
static int assistant_exists(struct req *r)
{
	const char *p[1] = { req_id(r) };
	PGresult *res = db_exec(r->db, "SELECT 1 FROM assistants WHERE id = $1::bigint", 1, p);
	res = http_one_row(r, res, "assistant", "no such assistant");
	int found = res != NULL;
	PQclear(res);
	return found;
}

/* GET /api/assistants/{id}/knowledge: every entry, or with ?q= the entries ranked. */
static int h_knowledge_query(struct req *r)
{
	char *q = NULL;
	int rc = query_get(r->query, "q", &q);
	if (rc == 0 || (rc == 1 && q[0] == '\0')) {
		free(q);
		return h_knowledge_list(r);
	}
	if (rc < 0 || strlen(q) > KN_QUERY_MAX || !utf8_valid(q, strlen(q))) {
		free(q);
		return http_error(r, 400, "validation_failed",
				  "q must be valid UTF-8 text of at most 1000 bytes", "q");
	}
	if (assistant_exists(r))
		ranked(r, r->ids[0], q, KN_RANKED_MAX, "knowledge", "id");
	free(q);
	return ROUTE_DONE;
}

static int h_answer_preview(struct req *r)
{
	char *q = NULL, *text = NULL;
	int64_t kid = 0;
	struct verr e = { 0 };
	if (av_text(req_body(r), "question", 1, &q, &e) < 0)
		return http_verr(r, &e);
	int rc = answer_preview(r->db, inlineai_settings(), r->ids[0], q, &text, &kid);
	if (rc == DB_ROW_NONE) {
		http_error(r, 404, "not_found", "no such assistant", NULL);
	} else if (rc < 0) {
		http_db_error(r, "answer preview");
	} else {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "answer", text);
		if (kid)
			cJSON_AddNumberToObject(o, "knowledge_id", (double)kid);
		else
			cJSON_AddNullToObject(o, "knowledge_id");
		http_json_take(r, 200, json_print(o));
		cJSON_Delete(o);
	}
	free(q);
	free(text);
	return ROUTE_DONE;
}

static int h_dialog_suggestions(struct req *r)
{
	const char *p[1] = { req_id(r) };
	PGresult *res = db_exec(
		r->db,
		"SELECT d.assistant_id, (SELECT m.text FROM messages m WHERE m.dialog_id = d.id AND m.sender = 'user'"
		" ORDER BY m.seq DESC LIMIT 1) FROM dialogs d WHERE d.id = $1::bigint",
		1, p);
	if (!(res = http_one_row(r, res, "suggestions", "no such dialog")))
		return ROUTE_DONE;
	int64_t assistant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	char *last = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	ranked(r, assistant, last, KN_SUGGESTIONS_MAX, "suggestions", "knowledge_id");
	free(last);
	return ROUTE_DONE;
}

/* clang-format off */
const struct route knowledge_routes[] = {
	{ "GET", "/api/assistants/{id}/knowledge", h_knowledge_query, ROUTE_OPERATOR },
	{ "POST", "/api/assistants/{id}/answer-preview", h_answer_preview, ROUTE_OPERATOR | ROUTE_BODY },
	{ "POST", "/api/assistants/{id}/knowledge", h_knowledge_create, ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
	{ "PATCH", "/api/knowledge/{id}", h_knowledge_patch, ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
	{ "DELETE", "/api/knowledge/{id}", h_knowledge_delete, ROUTE_OPERATOR | ROUTE_ADMIN },
	{ "GET", "/api/dialogs/{id}/suggestions", h_dialog_suggestions, ROUTE_OPERATOR },
	{ 0 },
};
/* clang-format on */
