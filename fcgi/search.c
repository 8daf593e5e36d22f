/* SPDX-License-Identifier: MIT */
/* search: messages found by their text. */
#include "autoconfig.h"
#include "search.h"
#include "adminval.h"
#include "request.h"
#include "router.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_QUERY_MAX     1000
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX     100

int h_search(struct req *r)
{
	char *q = NULL, *l = NULL, lim[24];
	int64_t limit = SEARCH_LIMIT_DEFAULT;
	int rc = query_get(r->query, "q", &q);
	if (rc <= 0 || !q[0] || strlen(q) > SEARCH_QUERY_MAX || !utf8_valid(q, strlen(q))) {
		http_error(r, 400, "validation_failed",
			   "q is required: valid UTF-8 text of at most 1000 bytes", "q");
		goto done;
	}
	rc = query_get(r->query, "limit", &l);
	if (rc < 0 || (rc == 1 && parse_int64(l, 1, SEARCH_LIMIT_MAX, &limit) < 0)) {
		http_error(r, 400, "validation_failed", "limit must be an integer from 1 to 100", "limit");
		goto done;
	}
	snprintf(lim, sizeof lim, "%lld", (long long)limit);
	const char *p[2] = { q, lim };
	PGresult *res = db_exec(
		r->db, "SELECT jsonb_build_object('results', chatai_search($1, $2::int))::text", 2, p);
	admin_answer(r, res, 200, "search", NULL, NULL);
done:
	free(q);
	free(l);
	return ROUTE_DONE;
}
