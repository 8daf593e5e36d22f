/* SPDX-License-Identifier: MIT */
/*
 * router: method + path pattern -> handler. Pure: route_match() looks at strings only,
 * so the table can be unit tested and fuzzed without a database.
 *
 * A pattern is a literal path in which a segment `{id}` stands for a positive decimal
 * int64 (1 to 9223372036854775807, digits only). A segment that is not such a number
 * does not match: the URL names nothing (404), the same answer as an id that does not
 * exist.
 */
#ifndef CHATAI_FCGI_ROUTER_H
#define CHATAI_FCGI_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct req;

/* A handler fills r->resp. ROUTE_PARKED: the request was handed to the long-poll hub,
 * which answers it later (the caller must neither send nor free the transport). */
#define ROUTE_DONE 0
#define ROUTE_PARKED 1
typedef int (*route_fn)(struct req *r);

enum route_flags {
	ROUTE_OPERATOR = 1 << 0, /* needs an operator bearer token */
	ROUTE_ADMIN = 1 << 1,    /* ... whose role is admin */
	ROUTE_WIDGET = 1 << 2,   /* public widget route: CORS, OPTIONS preflight */
	ROUTE_BODY = 1 << 3,     /* a JSON object body is required */
	ROUTE_RATE_DIALOGS = 1 << 4, /* rate limited (rate_limit_dialogs) */
	ROUTE_RATE_MESSAGES = 1 << 5,
	ROUTE_RATE_TYPING = 1 << 6,
	ROUTE_RATE_LOGIN = 1 << 7,
};

/* One row of a route table. A table is an array of rows ending with the row { 0 }
 * (method NULL): each resource file owns the table of its routes. */
struct route {
	const char *method;  /* GET, POST, PATCH, DELETE */
	const char *pattern; /* e.g. /api/dialogs/{id}/messages */
	route_fn fn;
	unsigned flags;      /* enum route_flags */
};

enum route_status {
	ROUTE_FOUND = 0,
	ROUTE_NOT_FOUND,   /* no pattern matches the path: 404 */
	ROUTE_BAD_METHOD,  /* a pattern matches, not with this method: 405 + Allow */
};

#define ROUTE_MAX_IDS 2

/*
 * Find the route of method + path in tables (a NULL-terminated list of tables, walked in
 * order: the first row that matches wins). On ROUTE_FOUND *out is the route and
 * ids[0..*nids) the path's {id} values. On ROUTE_BAD_METHOD allow receives the methods
 * the path accepts, in the order of the rows ("GET, POST"; OPTIONS added for widget
 * routes). Also reports (via *widget) whether the path belongs to a widget route, for
 * OPTIONS.
 */
enum route_status route_match(const struct route *const *tables, const char *method, const char *path,
			      const struct route **out, int64_t ids[ROUTE_MAX_IDS], int *nids, char *allow,
			      size_t allowlen, int *widget);

#endif
