/* SPDX-License-Identifier: MIT */
/*
 * contact: the visitor's side of mail (issue 15): leave an email address on the dialog,
 * report the read position, ask for a transcript, and resume a dialog from the link of
 * a reply mail; and the operator's view of a dialog's mail (routes: contact_routes). The
 * mails themselves are written by triggers (sql/008_triggers.sql, sql/007_mail.sql) and
 * sent by ai/mailq.c.
 */
#include "autoconfig.h"
#include "routes.h"
#include "adminval.h"
#include "appcfg.h"
#include "caller.h"
#include "inlineai.h"
#include "json.h"
#include "log.h"
#include "mailaddr.h"
#include "ratelimit.h"
#include "request.h"
#include "token.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most transcripts one dialog may ask for per hour. */
#define CONTACT_TRANSCRIPTS_PER_HOUR 3

struct v_contact {
	const char *email;
	const char *name;        /* NULL when absent or empty */
	int transcript_on_close; /* 0 when absent */
};

struct v_resume {
	int64_t dialog_id;
	const char *token; /* any string up to 256 bytes: checked by its hash, never by shape */
};

static int refuse(struct verr *e, const char *field, const char *message)
{
	e->status = 400;
	e->code = "validation_failed";
	e->message = message;
	snprintf(e->fieldbuf, sizeof e->fieldbuf, "%s", field);
	e->field = e->fieldbuf;
	return -1;
}

/* {email, name?, consent: true, transcript_on_close?}: 400 validation_failed naming the
 * field (a control character in any string field names that field). Pure. */
static int v_contact(const cJSON *o, struct v_contact *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	/* CR, LF or any control character, in any field, whatever the field. */
	for (const cJSON *c = o ? o->child : NULL; c; c = c->next)
		if (cJSON_IsString(c) && mail_has_ctl(c->valuestring))
			return refuse(e, c->string ? c->string : "?",
				      "control characters (CR, LF, ...) are not allowed");
	const cJSON *email = cJSON_GetObjectItemCaseSensitive(o, "email");
	if (!cJSON_IsString(email) || !mail_addr_valid(email->valuestring))
		return refuse(e, "email", "a plain email address is required (name@example.com)");
	out->email = email->valuestring;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (name && !cJSON_IsNull(name)) {
		if (!cJSON_IsString(name) || (*name->valuestring && !mail_text_clean(name->valuestring)))
			return refuse(e, "name",
				      "name must be text of at most 200 bytes without control characters");
		out->name = *name->valuestring ? name->valuestring : NULL;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "consent")))
		return refuse(e, "consent", "consent must be true: the visitor agrees to be mailed");
	const cJSON *onclose = cJSON_GetObjectItemCaseSensitive(o, "transcript_on_close");
	if (onclose && !cJSON_IsNull(onclose)) {
		if (!cJSON_IsBool(onclose))
			return refuse(e, "transcript_on_close", "transcript_on_close must be true or false");
		out->transcript_on_close = cJSON_IsTrue(onclose);
	}
	return 0;
}

static int v_resume(const cJSON *o, struct v_resume *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "dialog_id");
	if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 9007199254740991.0 ||
	    id->valuedouble != (double)(int64_t)id->valuedouble)
		return refuse(e, "dialog_id", "dialog_id must be a positive integer");
	out->dialog_id = (int64_t)id->valuedouble;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "resume_token");
	if (!cJSON_IsString(t) || !*t->valuestring || strlen(t->valuestring) > 256)
		return refuse(e, "resume_token", "resume_token must be a string of 1 to 256 bytes");
	out->token = t->valuestring;
	return 0;
}

/* 0 when mail is on; -1 with 409 mail_off set otherwise. */
static int need_mail(struct req *r)
{
	if (app_cfg.mail_on)
		return 0;
	http_error(r, 409, "mail_off", "this site sends no mail (smtp_url is not set)", NULL);
	return -1;
}

static int h_widget_contact(struct req *r)
{
	int64_t assistant;
	struct v_contact in;
	struct verr e = { 0 };
	if (caller_widget_dialog(r, &assistant) < 0 || need_mail(r) < 0)
		return ROUTE_DONE;
	if (v_contact(req_body(r), &in, &e) < 0)
		return http_verr(r, &e);
	const char *p[4] = { req_id(r), in.email, in.name, in.transcript_on_close ? "t" : "f" };
	PGresult *res = db_exec(r->db, "SELECT chatai_mail_contact($1::bigint, $2, $3, $4::boolean)", 4, p);
	if (http_db_done(r, res, "contact") < 0)
		return ROUTE_DONE;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "email", in.email);
	if (in.name)
		cJSON_AddStringToObject(o, "name", in.name);
	else
		cJSON_AddNullToObject(o, "name");
	cJSON_AddBoolToObject(o, "transcript_on_close", in.transcript_on_close);
	http_json_take(r, 200, json_print(o));
	cJSON_Delete(o);
	return ROUTE_DONE;
}

static int h_widget_read(struct req *r)
{
	int64_t assistant, seq = 0;
	struct verr e = { 0 };
	if (caller_widget_dialog(r, &assistant) < 0)
		return ROUTE_DONE;
	if (v_read(req_body(r), &seq, &e) < 0)
		return http_verr(r, &e);
	char s[I64_TEXT];
	const char *p[2] = { req_id(r), i64_text(seq, s) };
	/* Forward only, never past the last message; operators hear of it when it moved. */
	PGresult *res = db_exec(
		r->db,
		"WITH u AS (UPDATE dialogs SET visitor_read_seq = LEAST($2::bigint, last_seq)"
		"  WHERE id = $1::bigint AND visitor_read_seq < LEAST($2::bigint, last_seq) RETURNING id)"
		" SELECT chatai_notify_dialog(id, 'dialog_updated') FROM u",
		2, p);
	if (http_db_done(r, res, "read") == 0)
		http_no_content(r);
	return ROUTE_DONE;
}

static int h_widget_transcript(struct req *r)
{
	int64_t assistant;
	if (caller_widget_dialog(r, &assistant) < 0 || need_mail(r) < 0)
		return ROUTE_DONE;
	char key[48];
	snprintf(key, sizeof key, "transcript:%s", req_id(r));
	const char *p[1] = { req_id(r) }, *pk[1] = { key };
	PGresult *res = db_exec(r->db, "SELECT hits, retry_after FROM chatai_rate_hit($1, 3600)", 1, pk);
	if (!res)
		return http_db_error(r, "transcript limit");
	int hits = atoi(PQgetvalue(res, 0, 0));
	if (hits > CONTACT_TRANSCRIPTS_PER_HOUR) {
		http_header(r, "Retry-After", PQgetvalue(res, 0, 1));
		PQclear(res);
		return http_error(r, 429, "rate_limited", "a transcript was mailed recently; try again later",
				  NULL);
	}
	PQclear(res);
	res = db_exec(r->db, "SELECT chatai_mail_transcript($1::bigint)", 1, p);
	if (!res)
		return http_db_error(r, "transcript");
	int queued = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!queued)
		return http_error(r, 409, "no_contact", "leave an email address first (POST .../contact)",
				  NULL);
	inlineai_note_post(); /* with no worker alive, this request sends it after answering */
	http_json(r, 202, "{\"queued\":true}");
	return ROUTE_DONE;
}

/* The resume token's row: 1 when it opens in->dialog_id (unexpired); *assistant and
 * *origins (owned) set then. Every token, well formed or not, known or not, takes the
 * same path: one hash, one indexed lookup, one constant-time comparison. -1: db. */
static int resume_check(struct req *r, const struct v_resume *in, int64_t *assistant, char **origins)
{
	static const char dummy[TOKEN_HASH_CHARS + 1] =
		"0000000000000000000000000000000000000000000000000000000000000000";
	char hash[TOKEN_HASH_CHARS + 1], id[I64_TEXT];
	token_hash(in->token, hash);
	const char *p[2] = { hash, i64_text(in->dialog_id, id) };
	PGresult *res = db_exec(
		r->db,
		"SELECT t.token_hash, (t.dialog_id = $2::bigint AND t.expires_at > now()), d.assistant_id,"
		" to_jsonb(a.allowed_origins)::text FROM resume_tokens t JOIN dialogs d ON d.id = t.dialog_id"
		" JOIN assistants a ON a.id = d.assistant_id WHERE t.token_hash = $1",
		2, p);
	if (!res)
		return -1;
	int found = PQntuples(res) == 1;
	const char *stored =
		found && PQgetlength(res, 0, 0) == TOKEN_HASH_CHARS ? PQgetvalue(res, 0, 0) : dummy;
	int ok = token_equal(stored, hash) & found & (found && PQgetvalue(res, 0, 1)[0] == 't');
	if (ok) {
		*assistant = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		*origins = xstrdup(PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return ok;
}

static int h_widget_resume(struct req *r)
{
	struct v_resume in;
	struct verr e = { 0 };
	if (v_resume(req_body(r), &in, &e) < 0)
		return http_verr(r, &e);
	if (ratelimit_request(r) < 0) /* every try counts: guessing is slow */
		return ROUTE_DONE;
	int64_t assistant = 0;
	char *origins = NULL;
	int ok = resume_check(r, &in, &assistant, &origins);
	if (ok < 0)
		return http_db_error(r, "resume");
	if (!ok)
		return http_error(r, 404, "not_found", "this link is unknown or has expired", NULL);
	int cors = caller_widget_origin(r, origins);
	free(origins);
	if (cors < 0)
		return ROUTE_DONE;
	char tok[TOKEN_CHARS + 1], hash[TOKEN_HASH_CHARS + 1], id[I64_TEXT];
	if (token_new(tok) < 0)
		return http_error(r, 500, "internal_error", "no entropy for a token", NULL);
	token_hash(tok, hash);
	const char *p[2] = { i64_text(in.dialog_id, id), hash };
	/* a token more for the dialog: the ones it had keep working */
	PGresult *res = db_exec(r->db, "SELECT chatai_mail_resume($1::bigint, $2)", 2, p);
	if (http_db_done(r, res, "resume") < 0)
		return ROUTE_DONE;
	char body[160 + TOKEN_CHARS];
	snprintf(body, sizeof body, "{\"dialog_id\":%lld,\"assistant_id\":%lld,\"visitor_token\":\"%s\"}",
		 (long long)in.dialog_id, (long long)assistant, tok);
	log_info("widget: dialog %lld resumed from a mail link", (long long)in.dialog_id);
	http_json(r, 200, body);
	return ROUTE_DONE;
}

static int h_dialog_mail(struct req *r)
{
	const char *p[1] = { req_id(r) };
	return admin_answer(r, db_exec(r->db, "SELECT chatai_mail_dialog_json($1::bigint)::text", 1, p), 200,
			    "dialog mail", NULL, NULL);
}

/* clang-format off */
const struct route contact_routes[] = {
	{ "GET", "/api/dialogs/{id}/mail", h_dialog_mail, ROUTE_OPERATOR },
	{ "POST", "/api/widget/dialogs/{id}/contact", h_widget_contact, ROUTE_WIDGET | ROUTE_BODY | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/dialogs/{id}/read", h_widget_read, ROUTE_WIDGET | ROUTE_BODY | ROUTE_RATE_TYPING },
	{ "POST", "/api/widget/dialogs/{id}/transcript", h_widget_transcript, ROUTE_WIDGET | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/resume", h_widget_resume, ROUTE_WIDGET | ROUTE_BODY | ROUTE_RATE_DIALOGS },
	{ 0 },
};
/* clang-format on */
