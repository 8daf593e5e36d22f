/* SPDX-License-Identifier: MIT */
/*
 * caller: who is calling. An operator (bearer token of a live session) or the visitor
 * of one widget dialog (its visitor token, from an origin its assistant allows).
 *
 * Secrets never reach SQL or logs in clear: bearer tokens are looked up by their
 * SHA-256 (unique index) and visitor tokens compared by hash with token_equal().
 * Verified sessions and widget dialogs may come from the process cache (authcache.h).
 */
#ifndef CHATAI_FCGI_CALLER_H
#define CHATAI_FCGI_CALLER_H

#include <stdint.h>
#include "util.h"

struct req;

/* The operator of the request's bearer token into r->op (route flag ROUTE_OPERATOR:
 * the pipeline calls it). 0, or -1 with the answer (401, 503) set. */
int caller_operator(struct req *r) CHATAI_WUR;

/* Load the widget dialog r->ids[0]: token check (401/403), existence (404), CORS (403),
 * then the request's rate limit. On success *assistant_id is set. 0 or -1 with the
 * answer set. */
int caller_widget_dialog(struct req *r, int64_t *assistant_id) CHATAI_WUR;

/* CORS for a widget answer: allowed_json is the assistant's allowed_origins as JSON.
 * 0 (r->cors_origin set when there is an Origin), or -1 with 403 set. */
int caller_widget_origin(struct req *r, const char *allowed_json) CHATAI_WUR;

#endif
