/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the pure half of the admin routes (issue 14): fcgi/adminval.c's field
 * checks, the assistant PATCH body, common/util.c's email and name rules, and the route
 * table's flags for the new routes. No database, no sockets.
 */
#include "autoconfig.h"
#include "adminval.h"
#include "check_run.h"
#include "routes.h"
#include "json.h"
#include "router.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static cJSON *obj(const char *text)
{
	cJSON *o = cJSON_Parse(text);
	ck_assert_ptr_nonnull(o);
	return o;
}

START_TEST(email_and_name)
{
	CHECK_EACH(s, email_valid(s), 1, "a@b.c", "o'brien+x@shop.example");
	CHECK_EACH(s, email_valid(s), 0, "no-at", "@b.c", "a@", "a@b@c", "a b@c.d", "a\x7f@c.d", "a@\xff.d");
	char *n = NULL;
	const char *why = NULL;
	ck_assert_int_eq(name_validate("  Ann  ", &n, &why), 0);
	ck_assert_str_eq(n, "Ann");
	free(n);
	ck_assert_int_eq(name_validate("   ", &n, &why), -1);
	ck_assert_ptr_null(n);
	ck_assert_int_eq(name_validate("a\tb", &n, &why), -1);
	ck_assert_ptr_null(n);
	ck_assert_str_eq(why, "must be 1 to 200 characters without control characters");
	char long_name[202];
	memset(long_name, 'x', 201);
	long_name[201] = '\0';
	ck_assert_int_eq(name_validate(long_name, &n, &why), -1);
}
END_TEST

START_TEST(fields)
{
	struct verr e = { 0 };
	cJSON *o = obj("{\"email\":\"x@y.z\",\"role\":\"root\",\"pw\":\"123456789\",\"pw2\":\"0123456789\","
		       "\"d\":true,\"n\":1,\"id\":5,\"neg\":-1,\"s\":\"t\",\"name\":\"  Bo \"}");
	const char *s = NULL;
	char *own = NULL;
	int b;
	int64_t id;
	ck_assert_int_eq(av_email(o, "email", &s, &e), 0);
	ck_assert_int_eq(av_email(o, "role", &s, &e), -1);
	ck_assert_str_eq(e.field, "role");
	ck_assert_int_eq(av_email(o, "missing", &s, &e), -1);
	ck_assert_int_eq(av_role(o, "role", 1, &s, &e), -1);
	ck_assert_int_eq(e.status, 400);
	ck_assert_str_eq(e.code, "validation_failed");
	ck_assert_int_eq(av_role(o, "missing", 0, &s, &e), 0);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(av_password(o, "pw", 1, &s, &e), -1);
	ck_assert_int_eq(av_password(o, "pw2", 1, &s, &e), 0);
	ck_assert_int_eq(av_password(o, "n", 1, &s, &e), -1);
	ck_assert_int_eq(av_bool(o, "d", &b, &e), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(av_bool(o, "missing", &b, &e), 0);
	ck_assert_int_eq(b, -1);
	ck_assert_int_eq(av_bool(o, "n", &b, &e), -1);
	ck_assert_int_eq(av_id(o, "id", &id, &e), 0);
	ck_assert_int_eq(id, 5);
	ck_assert_int_eq(av_id(o, "neg", &id, &e), -1);
	ck_assert_int_eq(av_id(o, "s", &id, &e), -1);
	ck_assert_int_eq(av_name(o, "name", 1, &own, &e), 0);
	ck_assert_str_eq(own, "Bo");
	free(own);
	ck_assert_int_eq(av_text(o, "missing", 1, &own, &e), -1);
	ck_assert_str_eq(e.field, "missing");
	cJSON_Delete(o);
}
END_TEST

/* The PATCH body of an assistant, or NULL with e.field. */
static char *patch(const char *body, struct verr *e)
{
	cJSON *o = obj(body);
	memset(e, 0, sizeof *e);
	char *out = av_assistant_patch(o, e);
	cJSON_Delete(o);
	return out;
}

START_TEST(assistant_patch)
{
	struct verr e;
	char *p = patch(
		"{\"name\":\" N \",\"allowed_origins\":[\"https://A.example\"],\"handoff_words\":[\" human \"],"
		"\"waiting_timeout\":60,\"ts_config\":\"german\"}",
		&e);
	ck_assert_ptr_nonnull(p);
	cJSON *o = obj(p);
	ck_assert_str_eq(cJSON_GetObjectItem(o, "name")->valuestring, "N");
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "allowed_origins"), 0)->valuestring,
			 "https://a.example");
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "handoff_words"), 0)->valuestring,
			 "human");
	ck_assert_int_eq(cJSON_GetObjectItem(o, "waiting_timeout")->valueint, 60);
	ck_assert_str_eq(cJSON_GetObjectItem(o, "ts_config")->valuestring, "german");
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "greeting"));
	cJSON_Delete(o);
	free(p);
	p = patch("{\"waiting_timeout\":null}", &e);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "{\"waiting_timeout\":null}");
	free(p);
	static const char *const bad[][2] = {
		{ "{}", NULL },
		{ "{\"unknown\":1}", NULL },
		{ "{\"handoff_words\":\"x\"}", "handoff_words" },
		{ "{\"handoff_words\":[\"\"]}", "handoff_words" },
		{ "{\"handoff_words\":[1]}", "handoff_words" },
		{ "{\"waiting_timeout\":0}", "waiting_timeout" },
		{ "{\"waiting_timeout\":604801}", "waiting_timeout" },
		{ "{\"waiting_timeout\":\"5\"}", "waiting_timeout" },
		{ "{\"ts_config\":\"English\"}", "ts_config" },
		{ "{\"ts_config\":\"a;b\"}", "ts_config" },
		{ "{\"ts_config\":\"pg_catalog.english\"}", "ts_config" },
		{ "{\"ts_config\":\"\"}", "ts_config" },
		{ "{\"allowed_origins\":[\"shop.example\"]}", "allowed_origins" },
		{ "{\"name\":\"\"}", "name" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		p = patch(bad[i][0], &e);
		ck_assert_msg(p == NULL, "accepted %s", bad[i][0]);
		ck_assert_int_eq(e.status, 400);
		if (bad[i][1])
			ck_assert_str_eq(e.field, bad[i][1]);
		else
			ck_assert_ptr_null(e.field);
	}
}
END_TEST

static const struct route *find(const char *m, const char *p)
{
	const struct route *rt = NULL;
	int64_t ids[ROUTE_MAX_IDS];
	int n = 0, w = 0;
	char allow[96];
	ck_assert_int_eq(route_match(chatai_routes, m, p, &rt, ids, &n, allow, 96, &w), ROUTE_FOUND);
	return rt;
}

START_TEST(routes)
{
	static const struct {
		const char *m, *p;
		unsigned want;
	} t[] = {
		{ "GET", "/api/operators", ROUTE_OPERATOR | ROUTE_ADMIN },
		{ "GET", "/api/team", ROUTE_OPERATOR },
		{ "POST", "/api/operators", ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
		{ "PATCH", "/api/operators/3", ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
		{ "PATCH", "/api/me", ROUTE_OPERATOR | ROUTE_BODY },
		{ "PATCH", "/api/assistants/1", ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
		{ "PATCH", "/api/knowledge/1", ROUTE_OPERATOR | ROUTE_ADMIN | ROUTE_BODY },
		{ "GET", "/api/assistants/1/knowledge", ROUTE_OPERATOR },
		{ "POST", "/api/assistants/1/answer-preview", ROUTE_OPERATOR | ROUTE_BODY },
		{ "GET", "/api/dialogs/1/suggestions", ROUTE_OPERATOR },
		{ "POST", "/api/dialogs/1/notes", ROUTE_OPERATOR | ROUTE_BODY },
		{ "POST", "/api/dialogs/1/assign", ROUTE_OPERATOR | ROUTE_BODY },
		{ "GET", "/api/search", ROUTE_OPERATOR },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		ck_assert_msg(find(t[i].m, t[i].p)->flags == t[i].want, "%s %s", t[i].m, t[i].p);
}
END_TEST

int main(void)
{
	json_init();
	Suite *s = suite_create("adminval");
	check_case(s, "pure", CHECK_TESTS(email_and_name, fields, assistant_patch, routes));
	return check_run(s, CK_FORK_GETENV);
}
