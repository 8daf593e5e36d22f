/* SPDX-License-Identifier: MIT */
/*
 * routes: the REST API of docs/api.md. Each resource file of layer 2 owns the route
 * table of its routes (router.h: rows of method, pattern, handler, flags, ending with
 * { 0 }); chatai_routes lists them all for the pipeline and the tests.
 */
#ifndef CHATAI_FCGI_ROUTES_H
#define CHATAI_FCGI_ROUTES_H

#include "router.h"

/* One table per resource file: session.c has session_routes, and so on. */
extern const struct route session_routes[], operators_routes[], assistants_routes[], knowledge_routes[],
	dialogs_routes[], messages_routes[], notes_routes[], search_routes[], inbox_routes[],
	streamtickets_routes[], widget_routes[], contact_routes[];

/* Every table, NULL-terminated, in the order route_match() walks them. */
extern const struct route *const chatai_routes[];

#endif
