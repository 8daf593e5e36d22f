/* SPDX-License-Identifier: MIT */
/* knowledge: assistant and knowledge changes, ranked search, preview, suggestions. */
#include "autoconfig.h"
#include "knowledge.h"
#include "assistants.h"
#include "adminval.h"
#include "answer.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "authcache.h"
#include "inlineai.h"
#include "json.h"
#include "kb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest search text (bytes) and most entries a ranked list or suggestions return. */
#define KN_QUERY_MAX       1000
#define KN_RANKED_MAX      50
#define KN_SUGGESTIONS_MAX 5

int h_assistant_update(struct req *r)
{
	struct verr e = { 0 };
	char *patch = av_assistant_patch(req_body(r), &e);
	if (!patch) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	char id[24];
	const char *p[2] = { admin_id(r, id), patch };
	PGresult *res = db_exec(r->db, "SELECT chatai_assistant_update($1::bigint, $2::jsonb)::text", 2, p);
	free(patch);
	if (res)
		(void)authcache_note("assistant", r->ids[0]);
	return admin_answer(r, res, 200, "assistant update", "ts_config", NULL);
}

int h_knowledge_patch(struct req *r)
{
	const cJSON *o = req_body(r);
	char *q = NULL, *a = NULL, id[24];
	struct verr e = { 0 };
	if (av_text(o, "question", 0, &q, &e) < 0 || av_text(o, "answer", 0, &a, &e) < 0) {
		http_verr(r, &e);
	} else if (!q && !a) {
		http_error(r, 400, "validation_failed", "nothing to change: give question or answer", NULL);
	} else {
		const char *p[3] = { admin_id(r, id), q, a };
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

/* 1 when assistant r->ids[0] exists, 0 with 404 set, -1 with the error set. */
static int assistant_exists(struct req *r)
{
	char id[24];
	const char *p[1] = { admin_id(r, id) };
	PGresult *res = db_exec(r->db, "SELECT 1 FROM assistants WHERE id = $1::bigint", 1, p);
	if (!res) {
		http_db_error(r, "assistant");
		return -1;
	}
	int found = PQntuples(res) == 1;
	PQclear(res);
	if (!found)
		http_error(r, 404, "not_found", "no such assistant", NULL);
	return found;
}

int h_knowledge_query(struct req *r)
{
	char *q = NULL;
	int rc = query_get(r->query, "q", &q);
	if (rc == 0 || (rc == 1 && q[0] == '\0')) {
		free(q);
		return h_knowledge_list(r);
	}
	if (rc < 0 || strlen(q) > KN_QUERY_MAX || !utf8_valid(q, strlen(q))) {
		free(q);
		http_error(r, 400, "validation_failed", "q must be valid UTF-8 text of at most 1000 bytes",
			   "q");
		return ROUTE_DONE;
	}
	if (assistant_exists(r) == 1)
		ranked(r, r->ids[0], q, KN_RANKED_MAX, "knowledge", "id");
	free(q);
	return ROUTE_DONE;
}

int h_answer_preview(struct req *r)
{
	char *q = NULL, *text = NULL;
	int64_t kid = 0;
	struct verr e = { 0 };
	if (av_text(req_body(r), "question", 1, &q, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	int rc = answer_preview(r->db, inlineai_settings(), r->ids[0], q, &text, &kid);
	if (rc == -2) {
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

int h_dialog_suggestions(struct req *r)
{
	char id[24];
	const char *p[1] = { admin_id(r, id) };
	PGresult *res = db_exec(
		r->db,
		"SELECT d.assistant_id, (SELECT m.text FROM messages m WHERE m.dialog_id = d.id AND m.sender = 'user'"
		" ORDER BY m.seq DESC LIMIT 1) FROM dialogs d WHERE d.id = $1::bigint",
		1, p);
	if (!res) {
		http_db_error(r, "suggestions");
		return ROUTE_DONE;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		http_error(r, 404, "not_found", "no such dialog", NULL);
		return ROUTE_DONE;
	}
	int64_t assistant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	char *last = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	ranked(r, assistant, last, KN_SUGGESTIONS_MAX, "suggestions", "knowledge_id");
	free(last);
	return ROUTE_DONE;
}
