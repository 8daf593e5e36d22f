/* SPDX-License-Identifier: MIT */
/*
 * routes: the list of the resources' route tables, and nothing else. A row (method,
 * pattern, handler, route flags: who may call, body, rate class) lives with its handler
 * in the resource's file; the pipeline (pipeline.c) does everything the flags say before
 * it calls the handler. The order of this list is the order of an Allow header where a
 * path's methods lie in two tables (GET /api/me of session.c before PATCH of
 * operators.c).
 */
#include "autoconfig.h"
#include "routes.h"

#include <stddef.h>

const struct route *const chatai_routes[] = {
	session_routes, operators_routes,     assistants_routes, knowledge_routes,
	dialogs_routes, messages_routes,      notes_routes,      search_routes,
	inbox_routes,   streamtickets_routes, widget_routes,     contact_routes,
	NULL,
};
