/* SPDX-License-Identifier: MIT */
/*
 * app: what the resource handlers share: settings read once at start, the request
 * pipeline (app_handle), authentication of operators and visitors, and the handler
 * prototypes of every resource file. Settings are read before any thread starts and
 * never change afterwards (no reload in the FastCGI worker).
 */
#ifndef CHATAI_FCGI_APP_H
#define CHATAI_FCGI_APP_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include "http.h"
#include "router.h"
#include "validate.h"

struct app_settings {
	int64_t token_ttl;         /* seconds a login session lives */
	int64_t rl_dialogs;        /* per minute per client address; 0 disables */
	int64_t rl_messages;
	int64_t rl_typing;
	int64_t rl_login;
	int64_t rl_reads;          /* widget GET and OPTIONS */
	int64_t longpoll_max_wait; /* seconds */
	int64_t longpoll_max;      /* parked long-polls per process */
	int64_t longpoll_max_per_ip; /* of those, per client address (IPv6 /64); 0: no cap */
	int64_t auth_cache_ttl;    /* seconds a verified session or widget dialog is remembered */
};
extern struct app_settings app_cfg;

/* Read the settings (config_load() done by the caller). */
void app_settings_load(void);

/* Run one request through the pipeline: route, size, auth, content type, JSON,
 * rate limit, handler. Returns ROUTE_DONE (r->resp is set) or ROUTE_PARKED. */
int app_handle(struct req *r);

/* The request's JSON body, parsed by the pipeline for ROUTE_BODY routes. */
cJSON *app_body(struct req *r);

/* Answer a validation refusal. */
void app_verr(struct req *r, const struct verr *e);

/* The request's rate limit (the route's class; widget GET and OPTIONS: rate_limit_reads),
 * keyed on the client address (IPv6 per /64). Widget handlers call it once the resource
 * is checked (dialog, token, origin), so refused requests count nothing; other routes
 * get it from the pipeline. 0 to go on, -1 with 429 (or 503) set. */
int app_rate_check(struct req *r) CHATAI_WUR;

/* auth.c */
int auth_operator(struct req *r) CHATAI_WUR;     /* 0, or -1 with the answer set */
/* The visitor token of the request: X-Visitor-Token or ?visitor_token=. Owned copy or NULL. */
char *auth_visitor_token(struct req *r);
/* Load the widget dialog r->ids[0]: token check (401/403), existence (404), CORS (403).
 * On success *assistant_id is set. 0 or -1 with the answer set. The dialog's token hash
 * and its assistant's allowed origins may come from the process cache (authcache.h). */
int auth_widget_dialog(struct req *r, int64_t *assistant_id) CHATAI_WUR;
/* CORS for a widget answer: allowed_json is the assistant's allowed_origins as JSON.
 * 0 (r->cors_origin set when there is an Origin), or -1 with 403 set. */
int widget_cors(struct req *r, const char *allowed_json) CHATAI_WUR;

int h_login(struct req *r);
int h_logout(struct req *r);
int h_me(struct req *r);

/* assistants.c */
int h_assistants_list(struct req *r);
int h_assistants_create(struct req *r);
int h_assistant_get(struct req *r);
int h_knowledge_list(struct req *r);
int h_knowledge_create(struct req *r);
int h_knowledge_delete(struct req *r);

/* dialogs.c */
int h_dialogs_list(struct req *r);
int h_dialog_get(struct req *r);
int h_dialog_takeover(struct req *r);
int h_dialog_release(struct req *r);
int h_dialog_close(struct req *r);
int h_dialog_typing(struct req *r);
int h_dialog_read(struct req *r);
/* Shared with widget.c: a status action (op 0: the visitor) and a typing call. */
int dialog_action(struct req *r, int64_t op, const char *action);
int dialog_typing(struct req *r, const char *who);

/* messages.c */
int h_messages_get(struct req *r);
int h_messages_post(struct req *r);
int h_widget_messages_get(struct req *r);
int h_widget_messages_post(struct req *r);

/* widget.c */
int h_widget_assistant(struct req *r);
int h_widget_dialog_create(struct req *r);
int h_widget_typing(struct req *r);
int h_widget_handoff(struct req *r);
/* OPTIONS preflight of a widget path. */
int h_widget_preflight(struct req *r, const char *allow);

/* inbox.c */
int h_inbox(struct req *r);

/* streamtickets.c: single-use stream tickets for the notifier (no token in stream URLs). */
int h_stream_ticket(struct req *r);
int h_widget_stream_ticket(struct req *r);

#endif
