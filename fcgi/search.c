/* SPDX-License-Identifier: MIT */
/*
 * search: GET /api/search?q=&limit= (docs/api.md): full-text search over message text
 * (chatai_search() of sql/006_admin.sql), newest first.
 */
#include "autoconfig.h"
#include "routes.h"
#include "adminval.h"
#include "request.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

#define SEARCH_QUERY_MAX     1000
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX     100

static int h_search(struct req *r)
{
	char *q = NULL, *l = NULL, lim[I64_TEXT];
	int64_t limit = SEARCH_LIMIT_DEFAULT;
	int rc = query_get(r->query, "q", &q);
	if (rc <= 0 || !q[0] || strlen(q) > SEARCH_QUERY_MAX || !utf8_valid(q, strlen(q))) {
		http_error(r, 400, "validation_failed",
			   "q is required: valid UTF-8 text of at most 1000 bytes", "q");
		goto out;
	}
	rc = query_get(r->query, "limit", &l);
	if (rc < 0 || (rc == 1 && parse_int64(l, 1, SEARCH_LIMIT_MAX, &limit) < 0)) {
		http_error(r, 400, "validation_failed", "limit must be an integer from 1 to 100", "limit");
		goto out;
	}
	const char *p[2] = { q, i64_text(limit, lim) };
	PGresult *res = db_exec(
		r->db, "SELECT jsonb_build_object('results', chatai_search($1, $2::int))::text", 2, p);
	admin_answer(r, res, 200, "search", NULL, NULL);
out:
	free(q);
	free(l);
	return ROUTE_DONE;
}

const struct route search_routes[] = {
	{ "GET", "/api/search", h_search, ROUTE_OPERATOR },
	{ 0 },
};
