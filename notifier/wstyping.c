/* SPDX-License-Identifier: MIT */
/* wstyping: WebSocket typing on the one typing path (see wstyping.h, common/typing.h). */
#include "autoconfig.h"
#include "wstyping.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credis.h"
#include "log.h"
#include "pgfeed.h"
#include "typing.h"
#include "util.h"

static struct credis *pub; /* NULL: no redis_url */

struct wt_job {
	int64_t dialog;
	const char *who;   /* static */
	const char *state; /* static */
	void (*done)(void *arg, PGresult *res);
	void *arg;
};

void wstyping_init(const char *url)
{
	pub = credis_open(url);
	credis_set_timeouts(pub, 100, 20, 250);
}

void wstyping_free(void)
{
	credis_close(pub);
	pub = NULL;
}

static void notify_done(void *arg, PGresult *res)
{
	(void)arg;
	if (!res || PQresultStatus(res) == PGRES_FATAL_ERROR)
		log_warn("typing by NOTIFY: %s", res ? PQresultErrorMessage(res) : "database unavailable");
}

static void check_done(void *arg, PGresult *res)
{
	struct wt_job *j = arg;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		int64_t assistant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (credis_publish_typing(pub, j->dialog, assistant, j->who, j->state) != CREDIS_OK) {
			char d[24];
			snprintf(d, sizeof d, "%" PRId64, j->dialog);
			const char *p[3] = { d, j->who, j->state };
			pgfeed_query(TYPING_SQL_NOTIFY, 3, p, 0, notify_done, NULL);
		}
	}
	j->done(j->arg, res);
	free(j);
}

void wstyping_send(int64_t dialog, const char *who, const char *state, void (*done)(void *arg, PGresult *res),
                   void *arg)
{
	char d[24];
	snprintf(d, sizeof d, "%" PRId64, dialog);
	const char *p[3] = { d, strcmp(who, "user") == 0 ? "user" : "manager",
	                     strcmp(state, "start") == 0 ? "start" : "stop" };
	if (!pub) {
		pgfeed_query(TYPING_SQL_CHECK_NOTIFY, 3, p, 0, done, arg);
		return;
	}
	struct wt_job *j = xmalloc(sizeof *j);
	j->dialog = dialog;
	j->who = p[1];
	j->state = p[2];
	j->done = done;
	j->arg = arg;
	pgfeed_query(TYPING_SQL_CHECK, 1, p, 0, check_done, j);
}
