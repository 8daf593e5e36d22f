/* SPDX-License-Identifier: MIT */
/* pipeline: one request from route to handler (see pipeline.h). */
#include "autoconfig.h"
#include "pipeline.h"
#include "caller.h"
#include "ratelimit.h"
#include "request.h"
#include "router.h"
#include "routes.h"
#include "validate.h"
#include "widget.h"

#include <string.h>

int pipeline_handle(struct req *r)
{
	char allow[96];
	int widget = 0;
	const struct route *rt = NULL;
	enum route_status st = route_match(chatai_routes, r->method, r->path, &rt, r->ids, &r->nids, allow,
					   sizeof allow, &widget);
	/* Error answers of widget routes are readable cross-origin: they carry no data. */
	if (widget && r->origin)
		r->cors_origin = xstrdup(r->origin);
	if (st == ROUTE_BAD_METHOD && widget && strcmp(r->method, "OPTIONS") == 0) {
		/* The preflight looks up the resource like the real request will. */
		route_match(chatai_routes, "POST", r->path, &rt, r->ids, &r->nids, NULL, 0, &widget);
		if (!rt)
			route_match(chatai_routes, "GET", r->path, &rt, r->ids, &r->nids, NULL, 0, &widget);
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
		if (caller_operator(r) < 0)
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
			http_verr(r, &e);
			return ROUTE_DONE;
		}
	}
	/* Widget routes count their hit once the resource is checked (ratelimit_request in
	 * caller_widget_dialog and the widget handlers): a request for a dialog that does not
	 * exist, with a wrong token or from an origin not allowed counts nothing. */
	if (!(rt->flags & ROUTE_WIDGET) && ratelimit_request(r) < 0)
		return ROUTE_DONE;
	return rt->fn(r);
}
