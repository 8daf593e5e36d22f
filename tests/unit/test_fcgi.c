/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the pure half of chatai.fcgi: content types, routing, request-body
 * validation, the inbox cursor, answer rendering and
 * which notification wakes which long-poll (lpnote).
 * No database, no sockets.
 */
#include "autoconfig.h"
#include "check_run.h"
#include "routes.h"
#include "b64url.h"
#include "inboxcursor.h"
#include "request.h"
#include "json.h"
#include "lpheap.h"
#include "lpnote.h"
#include "router.h"
#include "validate.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(content_types)
{
	CHECK_EACH(s, content_type_is_json(s), 1, "application/json", "application/json; charset=utf-8",
		   "Application/JSON;charset=UTF-8", "application/json; charset=\"utf-8\"");
	CHECK_EACH(s, content_type_is_json(s), 0, "application/json; charset=latin1", "text/plain",
		   "application/jsonp", "application/x-www-form-urlencoded");
	ck_assert(!content_type_is_json(NULL));
	ck_assert(!content_type_is_json(""));
}
END_TEST

START_TEST(bearer)
{
	ck_assert_str_eq(bearer_token("Bearer abc"), "abc");
	ck_assert_str_eq(bearer_token("bearer   abc"), "abc");
	ck_assert_ptr_null(bearer_token("Basic abc"));
	ck_assert_ptr_null(bearer_token("Bearer"));
	ck_assert_ptr_null(bearer_token("Bearer "));
	ck_assert_ptr_null(bearer_token("Bearerabc"));
	ck_assert_ptr_null(bearer_token(NULL));
}
END_TEST

/* ---- routing ---- */

/* What route_match() tells of one request. */
struct matched {
	const struct route *rt;
	int64_t ids[2];
	int n, w;
	char allow[96];
};

static enum route_status match(const char *m, const char *p, struct matched *r)
{
	return route_match(chatai_routes, m, p, &r->rt, r->ids, &r->n, r->allow, sizeof r->allow, &r->w);
}

START_TEST(routing_found)
{
	struct matched r;
	ck_assert_int_eq(match("GET", "/api/dialogs/42/messages", &r), ROUTE_FOUND);
	ck_assert_str_eq(r.rt->method, "GET");
	ck_assert_str_eq(r.rt->pattern, "/api/dialogs/{id}/messages");
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.ids[0], 42);
	ck_assert_int_eq(match("POST", "/api/dialogs/42/messages", &r), ROUTE_FOUND);
	ck_assert_str_eq(r.rt->method, "POST");
	ck_assert_str_eq(r.rt->pattern, "/api/dialogs/{id}/messages");
	ck_assert_int_eq(match("GET", "/api/dialogs", &r), ROUTE_FOUND);
	ck_assert_int_eq(r.n, 0);
	ck_assert_int_eq(match("DELETE", "/api/knowledge/9223372036854775807", &r), ROUTE_FOUND);
	ck_assert_int_eq(r.ids[0], INT64_MAX);
	ck_assert_int_eq(match("GET", "/api/widget/assistants/3", &r), ROUTE_FOUND);
	ck_assert_int_eq(r.w, 1);
	ck_assert(r.rt->flags & ROUTE_WIDGET);
	ck_assert_int_eq(match("POST", "/api/widget/dialogs", &r), ROUTE_FOUND);
	ck_assert(r.rt->flags & ROUTE_RATE_DIALOGS);
	ck_assert_int_eq(match("POST", "/api/assistants", &r), ROUTE_FOUND);
	ck_assert(r.rt->flags & ROUTE_ADMIN);
}
END_TEST

START_TEST(routing_not_found)
{
	struct matched r;
	const char *bad[] = {
		"/api/dialogs/abc", "/api/dialogs/-1", "/api/dialogs/0", "/api/dialogs/1e3",
		"/api/dialogs/9223372036854775808", "/api/dialogs/99999999999999999999999",
		"/api/dialogs/", "/api/dialogs/1/", "/api/dialogs//messages", "/api", "/", "",
		"/api/dialogs/1/messages/2", "/api/dialogs/+1", "/api/dialogs/ 1", "/api/unknown",
		"/api/dialogs/%31",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(match("GET", bad[i], &r) == ROUTE_NOT_FOUND, "%s", bad[i]);
}
END_TEST

START_TEST(routing_method)
{
	/* The methods a path takes, in the order of the rows; where they lie in two
	 * resources' tables (/api/me, the knowledge paths), the order of chatai_routes. */
	static const struct {
		const char *m, *p, *allow;
		int widget;
	} t[] = {
		{ "DELETE", "/api/dialogs/1/messages", "GET, POST", 0 },
		{ "GET", "/api/auth/login", "POST", 0 },
		{ "PUT", "/api/assistants/1", "GET, PATCH", 0 },
		{ "DELETE", "/api/me", "GET, PATCH", 0 },
		{ "PUT", "/api/assistants/1/knowledge", "GET, POST", 0 },
		{ "GET", "/api/knowledge/1", "PATCH, DELETE", 0 },
		{ "OPTIONS", "/api/widget/dialogs/5/messages", "GET, POST, OPTIONS", 1 },
	};
	struct matched r;
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		ck_assert_msg(match(t[i].m, t[i].p, &r) == ROUTE_BAD_METHOD, "%s %s", t[i].m, t[i].p);
		ck_assert_str_eq(r.allow, t[i].allow);
		ck_assert_int_eq(r.w, t[i].widget);
	}
}
END_TEST

/* ---- bodies ---- */

static cJSON *body(const char *s, struct verr *e)
{
	memset(e, 0, sizeof *e);
	return v_body(s, strlen(s), e);
}

START_TEST(bodies)
{
	struct verr e;
	cJSON *o = body("{\"text\":\"hi\"}", &e);
	ck_assert_ptr_nonnull(o);
	cJSON_Delete(o);
	/* not one JSON object */
	const char *not_objects[] = { "{\"text\":", "[1,2]", "\"text\"", "{} x", "" };
	for (size_t i = 0; i < sizeof not_objects / sizeof *not_objects; i++) {
		ck_assert_msg(body(not_objects[i], &e) == NULL, "%s", not_objects[i]);
		ck_assert_str_eq(e.code, "invalid_json");
	}
	/* raw NUL byte */
	memset(&e, 0, sizeof e);
	ck_assert_ptr_null(v_body("{\"text\":\"a\0b\"}", 14, &e));
	ck_assert_str_eq(e.code, "invalid_json");
	/* \u0000 escape: the field is named */
	ck_assert_ptr_null(body("{\"sender\":\"user\",\"text\":\"a\\u0000b\"}", &e));
	ck_assert_str_eq(e.code, "validation_failed");
	ck_assert_str_eq(e.field, "text");
	ck_assert_ptr_null(body("{\"client_id\":\"\\u0000\",\"text\":\"x\"}", &e));
	ck_assert_str_eq(e.field, "client_id");
	/* an escaped backslash followed by u0000 is text, not a NUL */
	o = body("{\"text\":\"a\\\\u0000\"}", &e);
	ck_assert_ptr_nonnull(o);
	cJSON_Delete(o);
}
END_TEST

START_TEST(nul_field_scanner)
{
	char f[64];
	ck_assert_int_eq(v_nul_field("{\"a\":{\"b\":\"\\u0000\"}}", 19, f, sizeof f), 0);
	ck_assert_str_eq(f, "a");
	ck_assert_int_eq(v_nul_field("{\"a\":[\"x\",\"\\u0000\"]}", 20, f, sizeof f), 0);
	ck_assert_str_eq(f, "a");
	ck_assert_int_eq(v_nul_field("{\"a\":\"x\"}", 9, f, sizeof f), -1);
}
END_TEST

static int post(const char *json, const char *sender, struct v_post *p, struct verr *e)
{
	cJSON *o = body(json, e);
	ck_assert_ptr_nonnull(o);
	int rc = v_post(o, sender, p, e);
	if (rc == 0) {
		/* client_id points into the tree: copy before freeing it */
		if (p->client_id)
			ck_assert(strlen(p->client_id) > 0);
	}
	cJSON_Delete(o);
	if (rc == 0)
		p->client_id = NULL;
	return rc;
}

START_TEST(post_rules)
{
	struct v_post p;
	struct verr e;
	ck_assert_int_eq(post("{\"text\":\"  hello \\n\"}", "user", &p, &e), 0);
	ck_assert_str_eq(p.text, "hello");
	free(p.text);
	ck_assert_int_eq(post("{\"sender\":\"user\",\"text\":\"x\",\"client_id\":\"c-1\"}", "user", &p, &e), 0);
	free(p.text);
	/* Refused: a 400 that names the field. */
	static const struct {
		const char *json, *sender, *field;
	} refused[] = {
		{ "{}", "user", "text" },
		{ "{\"text\":5}", "user", "text" },
		{ "{\"text\":null}", "user", "text" },
		{ "{\"text\":\"   \"}", "user", "text" },
		{ "{\"text\":\"\"}", "user", "text" },
		{ "{\"text\":\"x\",\"sender\":\"ai\"}", "user", "sender" },
		{ "{\"text\":\"x\",\"sender\":\"user\"}", "manager", "sender" },
		{ "{\"text\":\"x\",\"client_id\":7}", "user", "client_id" },
		{ "{\"text\":\"x\",\"client_id\":\"\"}", "user", "client_id" },
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		ck_assert_msg(post(refused[i].json, refused[i].sender, &p, &e) == -1, "%s", refused[i].json);
		ck_assert_str_eq(e.field, refused[i].field);
		ck_assert_int_eq(e.status, 400);
	}

	/* 4000 characters pass (multi-byte ones count once), 4001 do not */
	struct buf b = { 0 };
	buf_adds(&b, "{\"text\":\"");
	for (int i = 0; i < 4000; i++)
		buf_adds(&b, "\xc3\xa9");
	buf_adds(&b, "\"}");
	ck_assert_int_eq(post(b.p, "user", &p, &e), 0);
	free(p.text);
	b.len -= 2;
	buf_adds(&b, "x\"}");
	ck_assert_int_eq(post(b.p, "user", &p, &e), -1);
	ck_assert_str_eq(e.field, "text");
	buf_free(&b);

	/* invalid UTF-8 inside the string (raw bytes: JSON escapes cannot make it) */
	ck_assert_int_eq(post("{\"text\":\"a\xff" "b\"}", "user", &p, &e), -1);
	ck_assert_str_eq(e.field, "text");
	ck_assert_int_eq(post("{\"text\":\"\xed\xa0\x80\"}", "user", &p, &e), -1);
	/* a long client_id */
	b = (struct buf){ 0 };
	buf_adds(&b, "{\"text\":\"x\",\"client_id\":\"");
	for (int i = 0; i < 129; i++)
		buf_adds(&b, "c");
	buf_adds(&b, "\"}");
	ck_assert_int_eq(post(b.p, "user", &p, &e), -1);
	ck_assert_str_eq(e.field, "client_id");
	buf_free(&b);
}
END_TEST

/* The small bodies' validators as "body -> 0, or -1 and e". */
static int typing_of(cJSON *o, struct verr *e)
{
	int start;
	return v_typing(o, &start, e);
}

static int read_of(cJSON *o, struct verr *e)
{
	int64_t seq;
	return v_read(o, &seq, e);
}

static int login_of(cJSON *o, struct verr *e)
{
	struct v_login l;
	return v_login(o, &l, e);
}

static int new_dialog_of(cJSON *o, struct verr *e)
{
	struct v_new_dialog d;
	return v_new_dialog(o, &d, e);
}

START_TEST(small_bodies)
{
	struct verr e;
	int start;
	int64_t seq;
	cJSON *o = body("{\"state\":\"start\"}", &e);
	ck_assert_int_eq(v_typing(o, &start, &e), 0);
	ck_assert_int_eq(start, 1);
	cJSON_Delete(o);
	o = body("{\"seq\":12}", &e);
	ck_assert_int_eq(v_read(o, &seq, &e), 0);
	ck_assert_int_eq(seq, 12);
	cJSON_Delete(o);
	struct v_login l;
	o = body("{\"email\":\"a@b.c\",\"password\":\"pw\"}", &e);
	ck_assert_int_eq(v_login(o, &l, &e), 0);
	cJSON_Delete(o);
	struct v_new_dialog d;
	o = body("{\"assistant_id\":3,\"page_url\":\"https://x/y\"}", &e);
	ck_assert_int_eq(v_new_dialog(o, &d, &e), 0);
	ck_assert_int_eq(d.assistant_id, 3);
	cJSON_Delete(o);

	/* Refused: a 400 that names the field. */
	static const struct {
		int (*valid)(cJSON *, struct verr *);
		const char *json, *field;
	} refused[] = {
		{ typing_of, "{\"state\":\"typing\"}", "state" },
		{ typing_of, "{\"state\":true}", "state" },
		{ read_of, "{\"seq\":-1}", "seq" },
		{ read_of, "{\"seq\":1.5}", "seq" },
		{ read_of, "{\"seq\":\"3\"}", "seq" },
		{ read_of, "{}", "seq" },
		{ read_of, "{\"seq\":1e300}", "seq" },
		{ login_of, "{\"email\":\"a@b.c\"}", "password" },
		{ login_of, "{\"email\":[],\"password\":\"x\"}", "email" },
		{ new_dialog_of, "{}", "assistant_id" },
		{ new_dialog_of, "{\"assistant_id\":\"3\"}", "assistant_id" },
		{ new_dialog_of, "{\"assistant_id\":0}", "assistant_id" },
		{ new_dialog_of, "{\"assistant_id\":2.5}", "assistant_id" },
		{ new_dialog_of, "{\"assistant_id\":1e20}", "assistant_id" },
		{ new_dialog_of, "{\"assistant_id\":1,\"page_url\":5}", "page_url" },
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		o = body(refused[i].json, &e);
		ck_assert_msg(refused[i].valid(o, &e) == -1, "%s", refused[i].json);
		ck_assert_str_eq(e.field, refused[i].field);
		ck_assert_int_eq(e.status, 400);
		cJSON_Delete(o);
	}
}
END_TEST

START_TEST(assistants)
{
	struct verr e;
	struct v_assistant a;
	cJSON *o = body("{\"name\":\" Shop \",\"greeting\":\"\",\"allowed_origins\":[\"https://Shop.Example\","
	                "\"https://*.shop.example:8443\",\"http://[::1]:8080\"]}", &e);
	ck_assert_int_eq(v_assistant(o, 1, &a, &e), 0);
	ck_assert_str_eq(a.name, "Shop");
	ck_assert_str_eq(a.greeting, "");
	ck_assert_str_eq(a.origins, "[\"https://shop.example\",\"https://*.shop.example:8443\",\"http://[::1]:8080\"]");
	v_assistant_free(&a);
	cJSON_Delete(o);
	o = body("{\"greeting\":\"hi\"}", &e);
	ck_assert_int_eq(v_assistant(o, 1, &a, &e), -1);
	ck_assert_str_eq(e.field, "name");
	ck_assert_int_eq(v_assistant(o, 0, &a, &e), 0);
	ck_assert_ptr_null(a.name);
	v_assistant_free(&a);
	cJSON_Delete(o);
	o = body("{}", &e);
	ck_assert_int_eq(v_assistant(o, 0, &a, &e), -1);
	cJSON_Delete(o);
	const char *bad[] = { "\"https://x\"", "[\"ftp://x\"]", "[\"https://x/path\"]", "[\"https://\"]", "[5]",
		              "[\"https://x:0\"]", "[\"https://x:99999\"]", "[\"https://x y\"]", "[\"*\"]" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char j[128];
		snprintf(j, sizeof j, "{\"name\":\"n\",\"allowed_origins\":%s}", bad[i]);
		o = body(j, &e);
		ck_assert_msg(v_assistant(o, 1, &a, &e) == -1, "%s", bad[i]);
		ck_assert_str_eq(e.field, "allowed_origins");
		cJSON_Delete(o);
	}
}
END_TEST

START_TEST(knowledge)
{
	struct verr e;
	struct v_knowledge k;
	cJSON *o = body("{\"question\":\"Q?\",\"answer\":\" A \"}", &e);
	ck_assert_int_eq(v_knowledge(o, &k, &e), 0);
	ck_assert_str_eq(k.answer, "A");
	v_knowledge_free(&k);
	cJSON_Delete(o);
	o = body("{\"question\":\"Q?\"}", &e);
	ck_assert_int_eq(v_knowledge(o, &k, &e), -1);
	ck_assert_str_eq(e.field, "answer");
	cJSON_Delete(o);
}
END_TEST

START_TEST(queries)
{
	struct v_messages_query q;
	struct verr e;
	ck_assert_int_eq(v_messages_query("", 30, &q, &e), 0);
	ck_assert_int_eq(q.has_after, 0);
	ck_assert_int_eq(q.limit, V_MESSAGES_LIMIT_DEFAULT);
	ck_assert_int_eq(q.wait, 0);
	ck_assert_int_eq(v_messages_query("after=0&wait=100&limit=3", 30, &q, &e), 0);
	ck_assert_int_eq(q.has_after, 1);
	ck_assert_int_eq(q.after, 0);
	ck_assert_int_eq(q.wait, 30);
	ck_assert_int_eq(q.limit, 3);
	const char *bad[] = { "after=-1", "after=x", "after=", "wait=-2", "wait=1.5", "limit=0", "limit=1001",
		              "after=99999999999999999999", "wait=%zz", "limit=1%00" };
	const char *field[] = { "after", "after", "after", "wait", "wait", "limit", "limit", "after", "wait", "limit" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(v_messages_query(bad[i], 30, &q, &e) == -1, "%s", bad[i]);
		ck_assert_str_eq(e.field, field[i]);
		ck_assert_str_eq(e.code, "validation_failed");
	}

	struct v_dialogs_query d;
	ck_assert_int_eq(v_dialogs_query("status=ai,waiting&limit=10&assistant_id=2&before=7", &d, &e), 0);
	ck_assert_str_eq(d.statuses, "ai,waiting");
	ck_assert_int_eq(d.limit, 10);
	ck_assert_int_eq(d.assistant_id, 2);
	ck_assert_int_eq(d.before, 7);
	free(d.statuses);
	ck_assert_int_eq(v_dialogs_query("", &d, &e), 0);
	ck_assert_ptr_null(d.statuses);
	ck_assert_int_eq(d.limit, 50);
	const char *badd[] = { "status=open", "status=ai,", "status=ai,,closed", "status=%27;DROP",
		               "limit=201", "assistant_id=0", "before=x" };
	for (size_t i = 0; i < sizeof badd / sizeof *badd; i++)
		ck_assert_msg(v_dialogs_query(badd[i], &d, &e) == -1, "%s", badd[i]);
}
END_TEST

/* ---- inbox cursor ---- */

START_TEST(cursors)
{
	char out[INBOX_CURSOR_MAX];
	struct inbox_cursor c = { 741, 741, 0 }, d;
	inbox_cursor_encode(&c, out);
	ck_assert_str_eq(out, "djE6NzQx"); /* base64url("v1:741") */
	ck_assert_int_eq(inbox_cursor_decode(out, &d), 0);
	ck_assert_int_eq(d.lo, 741);
	ck_assert_int_eq(d.hi, 741);
	ck_assert_int_eq(d.after_id, 0);
	c = (struct inbox_cursor){ 10, 25, 99999 };
	inbox_cursor_encode(&c, out);
	ck_assert_int_eq(inbox_cursor_decode(out, &d), 0);
	ck_assert_int_eq(d.lo, 10);
	ck_assert_int_eq(d.hi, 25);
	ck_assert_int_eq(d.after_id, 99999);
	c = (struct inbox_cursor){ INT64_MAX, INT64_MAX, 0 };
	inbox_cursor_encode(&c, out);
	ck_assert_int_eq(inbox_cursor_decode(out, &d), 0);
	ck_assert_int_eq(d.lo, INT64_MAX);
	const char *bad[] = { "", "x", "djE6", "djI6NzQx" /* v2:741 */, "djE6LTE" /* v1:-1 */, "djE6NzQxOg" /* v1:741: */,
		              "djE6OTk5OTk5OTk5OTk5OTk5OTk5OTk", /* 20 digits */ "djE6MTA6NToy" /* hi < lo */, "!!!!",
		              "djE6NzQx===" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(inbox_cursor_decode(bad[i], &d) == -1, "%s", bad[i]);
	unsigned char raw[8];
	ck_assert_int_eq(b64url_decode("AA", raw, sizeof raw), 1);
	ck_assert_int_eq(b64url_decode("A", raw, sizeof raw), -1);
}
END_TEST

/* ---- long-poll wake rule ---- */

static int wakes(const struct lp_query *q, const char *payload)
{
	cJSON *o = cJSON_Parse(payload);
	ck_assert_ptr_nonnull(o);
	struct lp_note n;
	int rc = lp_note_from_json(o, &n);
	cJSON_Delete(o);
	return rc == 0 && lp_note_matches(q, &n);
}

START_TEST(longpoll_wake)
{
	struct lp_query site = { .dialog_id = 7 }, every = { .dialog_id = 7, .every_audience = 1 }, inbox = { 0 };
	/* A dialog's reader: its own dialog's messages; the site audience only those for all. */
	ck_assert(wakes(&site, "{\"k\":\"msg\",\"dialog_id\":7,\"aud\":\"all\"}"));
	ck_assert(!wakes(&site, "{\"k\":\"msg\",\"dialog_id\":7,\"aud\":\"admin\"}"));
	ck_assert(wakes(&every, "{\"k\":\"msg\",\"dialog_id\":7,\"aud\":\"admin\"}"));
	ck_assert(!wakes(&every, "{\"k\":\"msg\",\"dialog_id\":8,\"aud\":\"all\"}"));
	ck_assert(!wakes(&every, "{\"k\":\"dialog\",\"dialog_id\":7}"));
	/* The inbox (dialog 0): every message and dialog event; typing and cache events wake nobody. */
	ck_assert(wakes(&inbox, "{\"k\":\"msg\",\"dialog_id\":8,\"aud\":\"admin\"}"));
	ck_assert(wakes(&inbox, "{\"k\":\"dialog\",\"dialog_id\":9}"));
	ck_assert(!wakes(&inbox, "{\"k\":\"typing\",\"dialog_id\":9}"));
	ck_assert(!wakes(&inbox, "{\"k\":\"revoke\",\"session_id\":3}"));
	ck_assert(!wakes(&inbox, "{\"k\":\"msg\",\"dialog_id\":\"9\"}"));
	/* A reconnect of the LISTEN link wakes everyone. */
	struct lp_note all = { .kind = LP_NOTE_ALL };
	ck_assert(lp_note_matches(&site, &all) && lp_note_matches(&inbox, &all));
}
END_TEST

/* The dispatcher's wake times: the top is always the earliest, any one can leave. */
START_TEST(longpoll_heap)
{
	enum { N = 500 };
	static struct lp_hnode nodes[N];
	struct lp_heap h = { 0 };
	ck_assert_ptr_null(lp_heap_top(&h));
	unsigned seed = 7;
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		nodes[i].at = (int64_t)(seed % 1000);
		nodes[i].idx = LP_HEAP_NONE;
		lp_heap_push(&h, &nodes[i]);
	}
	/* every third leaves from wherever it is; removing one that is out is a no-op */
	for (int i = 0; i < N; i += 3)
		lp_heap_remove(&h, &nodes[i]);
	lp_heap_remove(&h, &nodes[0]);
	ck_assert_uint_eq(h.n, N - (N + 2) / 3);
	int64_t last = -1;
	size_t popped = 0;
	for (struct lp_hnode *t; (t = lp_heap_top(&h)); popped++) {
		ck_assert_int_ge(t->at, last);
		ck_assert_uint_ne((size_t)(t - nodes) % 3, 0);
		last = t->at;
		lp_heap_remove(&h, t);
		ck_assert_uint_eq(t->idx, LP_HEAP_NONE);
	}
	ck_assert_uint_eq(popped, N - (N + 2) / 3);
	lp_heap_free(&h);
}
END_TEST

START_TEST(longpoll_ring)
{
	static struct lp_ring ring; /* zeroed: empty */
	struct lp_query q = { .dialog_id = 7, .every_audience = 1 };
	struct lp_note other = { .kind = LP_NOTE_MSG, .dialog_id = 8 }, mine = { .kind = LP_NOTE_MSG, .dialog_id = 7 };
	lp_ring_add(&ring, &other);
	ck_assert_uint_eq(other.gen, 1);
	ck_assert(!lp_ring_missed(&ring, &q, 0));
	lp_ring_add(&ring, &mine);
	ck_assert(lp_ring_missed(&ring, &q, 0));  /* parked after reading generation 0 */
	ck_assert(lp_ring_missed(&ring, &q, 1));
	ck_assert(!lp_ring_missed(&ring, &q, 2)); /* read after it: nothing missed */
	for (int i = 0; i < LP_RING; i++)
		lp_ring_add(&ring, &other);
	/* The ring no longer reaches back to generation 2: assume the worst. */
	ck_assert(lp_ring_missed(&ring, &q, 2));
	ck_assert(!lp_ring_missed(&ring, &q, ring.gen - 10));
}
END_TEST

/* ---- answers ---- */

START_TEST(render)
{
	struct req r;
	memset(&r, 0, sizeof r);
	http_error(&r, 429, "rate_limited", "slow down", NULL);
	http_header(&r, "Retry-After", "12");
	r.cors_origin = xstrdup("https://shop.example");
	struct buf out = { 0 };
	http_render(&r, &out);
	ck_assert_ptr_nonnull(strstr(out.p, "Status: 429 Too Many Requests\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "Retry-After: 12\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "Access-Control-Allow-Origin: https://shop.example\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "Content-Type: application/json; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "\r\n\r\n{\"error\":{\"code\":\"rate_limited\",\"message\":\"slow down\"}}"));
	buf_free(&out);
	http_no_content(&r);
	http_render(&r, &out);
	ck_assert_ptr_nonnull(strstr(out.p, "Status: 204 No Content\r\n"));
	ck_assert_ptr_null(strstr(out.p, "Content-Type: application/json"));
	ck_assert(out.len >= 4 && memcmp(out.p + out.len - 4, "\r\n\r\n", 4) == 0);
	buf_free(&out);
	free(r.cors_origin);
	r.cors_origin = NULL;
	buf_free(&r.resp.headers);
	buf_free(&r.resp.body);
}
END_TEST

int main(void)
{
	json_init();
	Suite *s = suite_create("fcgi");
	check_case(s, "pure", CHECK_TESTS(content_types, bearer, routing_found, routing_not_found, routing_method,
					  bodies, nul_field_scanner, post_rules, small_bodies, assistants, knowledge,
					  queries, cursors, render, longpoll_wake, longpoll_ring, longpoll_heap));
	return check_run(s, CK_FORK_GETENV);
}
