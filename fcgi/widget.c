/* SPDX-License-Identifier: MIT */
/* widget: the public routes of the embeddable widget (CORS, rate limited) but its
 * messages (messages.c), stream tickets (streamtickets.c) and mail (contact.c). */
#include "autoconfig.h"
#include "widget.h"
#include "routes.h"
#include "appcfg.h"
#include "caller.h"
#include "dialogs.h"
#include "ratelimit.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "credis.h"
#include "json.h"
#include "log.h"
#include "pollmode.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An assistant's allowed_origins (JSON text, owned): the one row of sql for id, or NULL
 * with the answer set (404 missing, database error). */
static char *origins_of(struct req *r, const char *sql, int64_t id, const char *what, const char *missing)
{
	char ids[I64_TEXT];
	const char *p[1] = { i64_text(id, ids) };
	PGresult *res = http_one_row(r, db_exec(r->db, sql, 1, p), what, missing);
	if (!res)
		return NULL;
	char *origins = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return origins;
}

static char *assistant_origins(struct req *r, int64_t assistant)
{
	return origins_of(r, "SELECT to_jsonb(allowed_origins)::text FROM assistants WHERE id = $1::bigint",
			  assistant, "assistant origins", "no such assistant");
}

static char *dialog_origins(struct req *r, int64_t dialog)
{
	return origins_of(r,
			  "SELECT to_jsonb(a.allowed_origins)::text FROM dialogs d"
			  " JOIN assistants a ON a.id = d.assistant_id WHERE d.id = $1::bigint",
			  dialog, "preflight", "no such dialog");
}

/* 0 when origins (owned, freed here; NULL: the answer is set) let the request's origin
 * in and its rate limit lets it through; -1 with the answer set. */
static int origin_and_rate(struct req *r, char *origins)
{
	if (!origins)
		return -1;
	int ok = caller_widget_origin(r, origins) == 0;
	free(origins);
	return ok && ratelimit_request(r) == 0 ? 0 : -1;
}

static int h_widget_assistant(struct req *r)
{
	const char *p[1] = { req_id(r) };
	/* Online: the one rule, chatai_operators_online() of sql/003_auth.sql. */
	PGresult *res = db_exec(r->db,
		"SELECT jsonb_build_object('id', a.id, 'name', a.name, 'greeting', a.greeting,"
		"  'operators_online', chatai_operators_online())::text,"
		" to_jsonb(a.allowed_origins)::text"
		" FROM assistants a WHERE a.id = $1::bigint", 1, p);
	if (!(res = http_one_row(r, res, "widget assistant", "no such assistant")))
		return ROUTE_DONE;
	if (caller_widget_origin(r, PQgetvalue(res, 0, 1)) < 0 || ratelimit_request(r) < 0) {
		PQclear(res);
		return ROUTE_DONE;
	}
	/* With Redis, its presence set is a cache of the same rule (CREDIS_PRESENCE_TTL):
	 * it only ever adds presence the database has not recorded yet. Without it, or
	 * while it is down or just restarted (empty), the database's answer stands. */
	int64_t online = 0;
	cJSON *o = cJSON_Parse(PQgetvalue(res, 0, 0));
	if (!o) {
		http_json(r, 200, PQgetvalue(res, 0, 0));
		PQclear(res);
		return ROUTE_DONE;
	}
	if (credis_operators_online(credis_thread(), &online) == CREDIS_OK && online > 0)
		cJSON_ReplaceItemInObjectCaseSensitive(o, "operators_online", cJSON_CreateBool(online > 0));
	/* How this server wants to be polled (pollmode.h). */
	cJSON_AddItemToObject(o, "poll", pollmode_json(r));
	cJSON_AddBoolToObject(o, "mail", app_cfg.mail_on); /* the widget offers its email field */
	http_json_take(r, 200, json_print(o));
	cJSON_Delete(o);
	PQclear(res);
	return ROUTE_DONE;
}

/* The longest prefix of s, at most max bytes, that is whole UTF-8 characters; NULL
 * when s is not valid UTF-8. */
static char *utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (!utf8_valid(s, n))
		return NULL;
	return xstrndup(s, n);
}

static int h_widget_dialog_create(struct req *r)
{
	struct v_new_dialog in;
	struct verr e = { 0 };
	if (v_new_dialog(req_body(r), &in, &e) < 0)
		return http_verr(r, &e);
	/* counted once the assistant and origin are checked */
	if (origin_and_rate(r, assistant_origins(r, in.assistant_id)) < 0)
		return ROUTE_DONE;
	char tok[TOKEN_CHARS + 1], hash[TOKEN_HASH_CHARS + 1], aid[I64_TEXT];
	if (token_new(tok) < 0)
		return http_error(r, 500, "internal_error", "no entropy for a token", NULL);
	token_hash(tok, hash);
	i64_text(in.assistant_id, aid);
	cJSON *v = cJSON_CreateObject();
	if (in.page_url)
		cJSON_AddStringToObject(v, "page_url", in.page_url);
	char *ua = r->user_agent ? utf8_prefix(r->user_agent, 512) : NULL;
	if (ua)
		cJSON_AddStringToObject(v, "user_agent", ua);
	free(ua);
	char *visitor = json_print(v);
	cJSON_Delete(v);
	const char *p[3] = { aid, hash, visitor };
	PGresult *res = db_exec(r->db,
		"SELECT dialog_id, messages::text FROM chatai_rest_create_dialog($1::bigint, $2, $3::jsonb)", 3, p);
	free(visitor);
	if (!res) {
		http_db_error(r, "dialog create");
		return ROUTE_DONE;
	}
	struct buf b = { 0 };
	buf_printf(&b, "{\"dialog_id\":%s,\"visitor_token\":\"%s\",\"messages\":%s}", PQgetvalue(res, 0, 0), tok,
	           PQgetvalue(res, 0, 1));
	log_debug("widget: dialog %s created for assistant %s", PQgetvalue(res, 0, 0), aid);
	PQclear(res);
	http_json(r, 201, b.p);
	buf_free(&b);
	return ROUTE_DONE;
}

static int h_widget_typing(struct req *r)
{
	int64_t assistant;
	if (caller_widget_dialog(r, &assistant) < 0)
		return ROUTE_DONE;
	return dialog_typing(r, "user");
}

static int h_widget_handoff(struct req *r)
{
	int64_t assistant;
	if (caller_widget_dialog(r, &assistant) < 0)
		return ROUTE_DONE;
	return dialog_action(r, 0, "handoff");
}

int h_widget_preflight(struct req *r, const char *allow)
{
	if (!r->origin) {
		/* A plain OPTIONS: say what the path accepts. */
		if (ratelimit_request(r) < 0)
			return ROUTE_DONE;
		http_header(r, "Allow", allow);
		http_no_content(r);
		return ROUTE_DONE;
	}
	/* A path with an {id} names the assistant whose origins apply. POST /api/widget/dialogs:
	 * the assistant is in the body, which a preflight does not carry. Any origin passes
	 * here; the real request is checked. */
	int rc;
	if (!r->route || r->nids != 1)
		rc = ratelimit_request(r);
	else if (strstr(r->route->pattern, "/assistants/"))
		rc = origin_and_rate(r, assistant_origins(r, r->ids[0]));
	else
		rc = origin_and_rate(r, dialog_origins(r, r->ids[0]));
	if (rc < 0)
		return ROUTE_DONE;
	free(r->cors_origin);
	r->cors_origin = xstrdup(r->origin);
	http_header(r, "Access-Control-Allow-Methods", allow);
	http_header(r, "Access-Control-Allow-Headers", "Content-Type, X-Visitor-Token");
	http_header(r, "Access-Control-Max-Age", "600");
	http_no_content(r);
	return ROUTE_DONE;
}

/* clang-format off */
const struct route widget_routes[] = {
	{ "GET", "/api/widget/assistants/{id}", h_widget_assistant, ROUTE_WIDGET },
	{ "POST", "/api/widget/dialogs", h_widget_dialog_create, ROUTE_WIDGET | ROUTE_BODY | ROUTE_RATE_DIALOGS },
	{ "POST", "/api/widget/dialogs/{id}/typing", h_widget_typing, ROUTE_WIDGET | ROUTE_BODY | ROUTE_RATE_TYPING },
	{ "POST", "/api/widget/dialogs/{id}/handoff", h_widget_handoff, ROUTE_WIDGET | ROUTE_RATE_MESSAGES },
	{ 0 },
};
/* clang-format on */
