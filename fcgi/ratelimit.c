/* ratelimit: fixed-window rate limits, PostgreSQL backend. */
#include "autoconfig.h"
#include "ratelimit.h"
#include "credis.h"

#include <stdio.h>
#include <stdlib.h>

static int pg_hit(struct db *db, const char *key, int64_t window, int64_t *hits, int64_t *retry_after)
{
	char w[24];
	snprintf(w, sizeof w, "%lld", (long long)window);
	const char *p[2] = { key, w };
	PGresult *res = db_exec(db, "SELECT hits, retry_after FROM chatai_rate_hit($1, $2::int)", 2, p);
	if (!res)
		return -1;
	int rc = -1;
	if (PQntuples(res) == 1) {
		*hits = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*retry_after = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

const struct ratelimit_backend ratelimit_pg = { pg_hit };
static const struct ratelimit_backend *backend = &ratelimit_pg;

void ratelimit_set_backend(const struct ratelimit_backend *b)
{
	backend = b ? b : &ratelimit_pg;
}

int ratelimit_hit(struct db *db, const char *key, int64_t limit, int64_t window, int64_t *retry_after)
{
	int64_t hits = 0;
	*retry_after = 0;
	if (limit <= 0)
		return RATELIMIT_OK;
	/* Redis, when redis_url is set and it answers: counters shared by every web host.
	 * Down or not configured: the PostgreSQL table. */
	if (backend == &ratelimit_pg) {
		int ra = 0;
		int rc = credis_ratelimit_hit(credis_thread(), key, limit > INT32_MAX ? INT32_MAX : (int)limit,
		                              (int)window, &ra, NULL);
		if (rc == CREDIS_OK || rc == CREDIS_LIMITED) {
			*retry_after = ra;
			return rc == CREDIS_OK ? RATELIMIT_OK : RATELIMIT_LIMITED;
		}
	}
	if (backend->hit(db, key, window, &hits, retry_after) < 0)
		return RATELIMIT_ERROR;
	return hits > limit ? RATELIMIT_LIMITED : RATELIMIT_OK;
}
