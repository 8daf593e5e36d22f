/* SPDX-License-Identifier: MIT */
/* routes: the route table of API.md and the request pipeline in front of the handlers. */
#include "autoconfig.h"
#include "app.h"
#include "authcache.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "ratelimit.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app_settings app_cfg;

/* The table's defaults and ranges (common/settings.def); every key here is SP_FALLBACK, so a
 * bad value is corrected with a warning and never stops the process. */
void app_settings_load(void)
{
	static const struct {
		enum setting_id id;
		int64_t *v;
	} keys[] = {
		{ SET_token_ttl, &app_cfg.token_ttl },
		{ SET_rate_limit_dialogs, &app_cfg.rl_dialogs },
		{ SET_rate_limit_messages, &app_cfg.rl_messages },
		{ SET_rate_limit_typing, &app_cfg.rl_typing },
		{ SET_rate_limit_login, &app_cfg.rl_login },
		{ SET_rate_limit_reads, &app_cfg.rl_reads },
		{ SET_longpoll_max_wait, &app_cfg.longpoll_max_wait },
		{ SET_fcgi_longpoll_max, &app_cfg.longpoll_max },
		{ SET_fcgi_longpoll_max_per_ip, &app_cfg.longpoll_max_per_ip },
		{ SET_auth_cache_ttl, &app_cfg.auth_cache_ttl },
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		(void)settings_int(keys[i].id, keys[i].v);
	authcache_init(app_cfg.auth_cache_ttl);
	ratelimit_init(config_get("database_url", ""));
}

#define OP ROUTE_OPERATOR
#define ADM (ROUTE_OPERATOR | ROUTE_ADMIN)
#define W ROUTE_WIDGET
#define B ROUTE_BODY

const struct route chatai_routes[] = {
	{ "POST", "/api/auth/login", h_login, B | ROUTE_RATE_LOGIN },
	{ "POST", "/api/auth/logout", h_logout, OP },
	{ "GET", "/api/me", h_me, OP },
	{ "GET", "/api/assistants", h_assistants_list, OP },
	{ "POST", "/api/assistants", h_assistants_create, ADM | B },
	{ "GET", "/api/assistants/{id}", h_assistant_get, OP },
	{ "PATCH", "/api/assistants/{id}", h_assistant_patch, ADM | B },
	{ "GET", "/api/assistants/{id}/knowledge", h_knowledge_list, OP },
	{ "POST", "/api/assistants/{id}/knowledge", h_knowledge_create, ADM | B },
	{ "DELETE", "/api/knowledge/{id}", h_knowledge_delete, ADM },
	{ "GET", "/api/dialogs", h_dialogs_list, OP },
	{ "GET", "/api/dialogs/{id}", h_dialog_get, OP },
	{ "GET", "/api/dialogs/{id}/messages", h_messages_get, OP },
	{ "POST", "/api/dialogs/{id}/messages", h_messages_post, OP | B },
	{ "POST", "/api/dialogs/{id}/takeover", h_dialog_takeover, OP },
	{ "POST", "/api/dialogs/{id}/release", h_dialog_release, OP },
	{ "POST", "/api/dialogs/{id}/close", h_dialog_close, OP },
	{ "POST", "/api/dialogs/{id}/typing", h_dialog_typing, OP | B },
	{ "POST", "/api/dialogs/{id}/read", h_dialog_read, OP | B },
	{ "GET", "/api/inbox", h_inbox, OP },
	{ "POST", "/api/stream-tickets", h_stream_ticket, OP },
	{ "GET", "/api/widget/assistants/{id}", h_widget_assistant, W },
	{ "POST", "/api/widget/dialogs", h_widget_dialog_create, W | B | ROUTE_RATE_DIALOGS },
	{ "GET", "/api/widget/dialogs/{id}/messages", h_widget_messages_get, W },
	{ "POST", "/api/widget/dialogs/{id}/messages", h_widget_messages_post, W | B | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/dialogs/{id}/typing", h_widget_typing, W | B | ROUTE_RATE_TYPING },
	{ "POST", "/api/widget/dialogs/{id}/handoff", h_widget_handoff, W | ROUTE_RATE_MESSAGES },
	{ "POST", "/api/widget/dialogs/{id}/stream-tickets", h_widget_stream_ticket, W | ROUTE_RATE_TYPING },
};
const size_t chatai_routes_count = sizeof chatai_routes / sizeof *chatai_routes;

cJSON *app_body(struct req *r)
{
	return r->json;
}

void app_verr(struct req *r, const struct verr *e)
{
	http_error(r, e->status, e->code, e->message, e->field);
}

/* 0 to go on, -1 with 429 (or 503) set. */
int app_rate_check(struct req *r)
{
	const char *cls = NULL;
	int64_t limit = 0;
	unsigned f = r->route ? r->route->flags : ROUTE_WIDGET;
	if ((f & ROUTE_WIDGET) && (strcmp(r->method, "GET") == 0 || strcmp(r->method, "OPTIONS") == 0)) {
		/* A preflight carries the flags of the route it asks for: it is a read. */
		cls = "reads";
		limit = app_cfg.rl_reads;
	} else if (f & ROUTE_RATE_DIALOGS) {
		cls = "dialogs";
		limit = app_cfg.rl_dialogs;
	} else if (f & ROUTE_RATE_MESSAGES) {
		cls = "messages";
		limit = app_cfg.rl_messages;
	} else if (f & ROUTE_RATE_TYPING) {
		cls = "typing";
		limit = app_cfg.rl_typing;
	} else if (f & ROUTE_RATE_LOGIN) {
		cls = "login";
		limit = app_cfg.rl_login;
	}
	if (!cls || limit <= 0)
		return 0;
	char key[160], addr[80];
	addr_limit_key(r->remote_addr ? r->remote_addr : "-", addr, sizeof addr); /* IPv6: its /64 */
	snprintf(key, sizeof key, "%s:%s", cls, addr);
	int64_t retry = 0;
	int rc = ratelimit_hit(r->db, key, limit, 60, &retry);
	if (rc == RATELIMIT_OK)
		return 0;
	if (rc == RATELIMIT_LIMITED) {
		char v[24];
		snprintf(v, sizeof v, "%lld", (long long)retry);
		http_header(r, "Retry-After", v);
		http_error(r, 429, "rate_limited", "too many requests, slow down", NULL);
		return -1;
	}
	http_db_error(r, "rate limit");
	return -1;
}

int app_handle(struct req *r)
{
	char allow[96];
	int widget = 0;
	const struct route *rt = NULL;
	enum route_status st = route_match(chatai_routes, chatai_routes_count, r->method, r->path, &rt, r->ids,
	                                   &r->nids, allow, sizeof allow, &widget);
	/* Error answers of widget routes are readable cross-origin: they carry no data. */
	if (widget && r->origin)
		r->cors_origin = xstrdup(r->origin);
	if (st == ROUTE_BAD_METHOD && widget && strcmp(r->method, "OPTIONS") == 0) {
		/* The preflight looks up the resource like the real request will. */
		route_match(chatai_routes, chatai_routes_count, "POST", r->path, &rt, r->ids, &r->nids, NULL, 0, &widget);
		if (!rt)
			route_match(chatai_routes, chatai_routes_count, "GET", r->path, &rt, r->ids, &r->nids, NULL, 0,
			            &widget);
		r->route = rt;
		return h_widget_preflight(r, allow);
	}
	if (st == ROUTE_NOT_FOUND) {
		http_error(r, 404, "not_found", "no such resource", NULL);
		return ROUTE_DONE;
	}
	if (st == ROUTE_BAD_METHOD) {
		http_header(r, "Allow", allow);
		http_error(r, 405, "method_not_allowed", "this method is not allowed here", NULL);
		return ROUTE_DONE;
	}
	r->route = rt;
	if (r->content_length > CHATAI_BODY_MAX) {
		http_error(r, 413, "payload_too_large", "the request body is larger than 64 KiB", NULL);
		return ROUTE_DONE;
	}
	req_read_body(r);
	if (r->body_state == BODY_TOO_LARGE) {
		http_error(r, 413, "payload_too_large", "the request body is larger than 64 KiB", NULL);
		return ROUTE_DONE;
	}
	if (rt->flags & ROUTE_OPERATOR) {
		if (auth_operator(r) < 0)
			return ROUTE_DONE;
		if ((rt->flags & ROUTE_ADMIN) && !r->op.is_admin) {
			http_error(r, 403, "forbidden", "this needs the admin role", NULL);
			return ROUTE_DONE;
		}
	}
	if (rt->flags & ROUTE_BODY) {
		if (r->body_state == BODY_NONE && !r->content_type) {
			http_error(r, 415, "unsupported_media_type", "send a JSON body with Content-Type: application/json",
			           NULL);
			return ROUTE_DONE;
		}
		if (!content_type_is_json(r->content_type)) {
			http_error(r, 415, "unsupported_media_type", "Content-Type must be application/json", NULL);
			return ROUTE_DONE;
		}
		struct verr e = { 0 };
		r->json = v_body(r->body, r->body_len, &e);
		if (!r->json) {
			app_verr(r, &e);
			return ROUTE_DONE;
		}
	}
	/* Widget routes count their hit once the resource is checked (app_rate_check in
	 * auth_widget_dialog and the widget handlers): a request for a dialog that does not
	 * exist, with a wrong token or from an origin not allowed counts nothing. */
	if (!(rt->flags & ROUTE_WIDGET) && app_rate_check(r) < 0)
		return ROUTE_DONE;
	return rt->fn(r);
}
