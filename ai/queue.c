/* SPDX-License-Identifier: MIT */
/* queue: claim, finish and retry answer jobs; LISTEN chatai_jobs. */
#include "autoconfig.h"
#include "queue.h"
#include "log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int queue_listen(struct db *db)
{
	return db_run(db, "LISTEN chatai_jobs", 0, NULL);
}

int queue_drain(struct db *db)
{
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return -1;
	if (!PQconsumeInput(db->conn))
		return -1;
	int n = 0;
	PGnotify *nt;
	while ((nt = PQnotifies(db->conn)) != NULL) {
		n++;
		PQfreemem(nt);
	}
	return n;
}

int queue_claim(struct db *db, const char *worker, int lease_s, struct job *j)
{
	char lease[16];
	snprintf(lease, sizeof lease, "%d", lease_s);
	const char *params[] = { worker, lease };
	PGresult *res = db_exec(db, "SELECT id, dialog_id, from_seq, up_to_seq, attempts "
	                            "FROM chatai_ai_claim($1, $2)", 2, params);
	if (!res)
		return -1;
	int got = PQntuples(res) > 0;
	if (got) {
		j->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		j->dialog_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		j->from_seq = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		j->up_to_seq = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
		j->attempts = atoi(PQgetvalue(res, 0, 4));
	}
	PQclear(res);
	return got;
}

int queue_finish(struct db *db, const struct job *j, const char *worker,
                 const struct job_end *end, char outcome[16])
{
	char id[24];
	snprintf(id, sizeof id, "%" PRId64, j->id);
	const char *params[] = {
		id, worker, end->text, end->failed ? "true" : "false", end->handoff ? "true" : "false",
		end->handoff_text ? end->handoff_text : "", end->state ? end->state : "done",
		end->typing ? "true" : "false",
	};
	PGresult *res = db_exec(db, "SELECT chatai_ai_finish($1, $2, $3, $4, $5, $6, $7, $8)", 8, params);
	if (!res)
		return -1;
	snprintf(outcome, 16, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return 0;
}

int queue_retry(struct db *db, const struct job *j, const char *worker, const char *error,
                int delay_s)
{
	char id[24], delay[16];
	snprintf(id, sizeof id, "%" PRId64, j->id);
	snprintf(delay, sizeof delay, "%d", delay_s);
	const char *params[] = { id, worker, error, delay };
	return db_run(db, "SELECT chatai_ai_retry($1, $2, $3, $4)", 4, params);
}

int queue_release_waiting(struct db *db, const char *text)
{
	const char *params[] = { text };
	PGresult *res = db_exec(db, "SELECT chatai_ai_release_waiting($1)", 1, params);
	if (!res)
		return -1;
	int n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

int queue_next_deadline(struct db *db, int64_t *ms)
{
	PGresult *res = db_exec(db, "SELECT chatai_ai_next_deadline()", 0, NULL);
	if (!res)
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		*ms = INT64_MAX;
	} else {
		double s = strtod(PQgetvalue(res, 0, 0), NULL);
		*ms = isfinite(s) ? (int64_t)ceil(s * 1000.0) : INT64_MAX;
	}
	PQclear(res);
	return 0;
}

int queue_heartbeat(struct db *db, const char *worker)
{
	const char *params[] = { worker };
	return db_run(db, "SELECT chatai_ai_heartbeat($1)", 1, params);
}

int queue_goodbye(struct db *db, const char *worker)
{
	const char *params[] = { worker };
	return db_run(db, "SELECT chatai_ai_goodbye($1)", 1, params);
}

int queue_worker_alive(struct db *db, int within_s)
{
	char within[24];
	snprintf(within, sizeof within, "%d seconds", within_s);
	const char *params[] = { within };
	PGresult *res = db_exec(db, "SELECT chatai_ai_worker_alive($1::interval)", 1, params);
	if (!res)
		return -1;
	int alive = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return alive;
}
