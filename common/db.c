/* SPDX-License-Identifier: MIT */
/* db: libpq helpers with bound parameters and self-healing links. */
#include "autoconfig.h"
#include "db.h"
#include "log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One statement text prepared on a link, under the name "cN". */
struct db_prep {
	uint64_t hash;
	char *sql;
	char name[12];
};

static void db_fail(struct db *db, enum db_status st, const char *sqlstate, const char *msg)
{
	db->status = st;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", sqlstate ? sqlstate : "");
	snprintf(db->errmsg, sizeof db->errmsg, "%s", msg ? msg : "");
	/* libpq messages end in a newline. */
	size_t l = strlen(db->errmsg);
	while (l > 0 && (db->errmsg[l - 1] == '\n' || db->errmsg[l - 1] == '\r'))
		db->errmsg[--l] = '\0';
}

PGconn *db_connect_url(const char *url)
{
	PGconn *c = PQconnectdb(url ? url : "");
	if (PQstatus(c) != CONNECTION_OK) {
		/* PQerrorMessage names host and user, never the password. */
		log_warn("database: connection failed: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

void db_init(struct db *db, const char *url)
{
	memset(db, 0, sizeof *db);
	db->url = xstrdup(url ? url : "");
	db->retry_ms = 250;
	if (db_ensure(db) < 0)
		db->status = DB_DOWN;
}

void db_prep_reset(struct db *db)
{
	for (size_t i = 0; i < db->nprep; i++)
		free(db->prep[i].sql);
	free(db->prep);
	db->prep = NULL;
	db->nprep = 0;
	db->prep_conn = db->conn;
}

void db_close(struct db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db_prep_reset(db);
	free(db->url);
	db->url = NULL;
}

int db_ensure(struct db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	if (db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	int64_t now = now_ms();
	if (now < db->next_try_ms) {
		db_fail(db, DB_DOWN, NULL, "database unavailable (waiting before the next attempt)");
		return -1;
	}
	/* connect_timeout keeps a request from hanging on an unreachable host. */
	char *url = xstrdup(db->url);
	PGconn *c = PQconnectdb(url);
	free(url);
	if (PQstatus(c) != CONNECTION_OK) {
		db_fail(db, DB_DOWN, NULL, PQerrorMessage(c));
		PQfinish(c);
		db->next_try_ms = now + db->retry_ms;
		return -1;
	}
	db->conn = c;
	db_prep_reset(db); /* a new link has no prepared statements */
	db->status = DB_OK;
	return 0;
}

PGresult *db_exec_conn(PGconn *conn, const char *sql, int n, const char *const *params)
{
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

static uint64_t sql_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Statements worth preparing: plain DML and queries (not LISTEN, BEGIN, SET...). */
static int preparable(const char *sql)
{
	while (isspace((unsigned char)*sql))
		sql++;
	static const char *const kw[] = { "SELECT", "WITH", "INSERT", "UPDATE", "DELETE" };
	for (size_t i = 0; i < sizeof kw / sizeof *kw; i++) {
		size_t l = strlen(kw[i]);
		if (strncasecmp(sql, kw[i], l) == 0 && !isalnum((unsigned char)sql[l]) && sql[l] != '_')
			return 1;
	}
	return 0;
}

/* The name sql is prepared under on db->conn, preparing it now if needed; NULL when it
 * is not to be prepared (or preparing failed: the caller runs it unprepared, and a
 * statement the server refuses then fails with the server's own error). */
static const char *prepared_name(struct db *db, const char *sql, int n)
{
	if (db->prep_conn != db->conn)
		db_prep_reset(db);
	if (!preparable(sql))
		return NULL;
	uint64_t h = sql_hash(sql);
	for (size_t i = 0; i < db->nprep; i++)
		if (db->prep[i].hash == h && strcmp(db->prep[i].sql, sql) == 0)
			return db->prep[i].name;
	if (db->nprep >= DB_PREP_MAX)
		return NULL;
	char name[12];
	snprintf(name, sizeof name, "c%zu", db->nprep + 1);
	PGresult *res = PQprepare(db->conn, name, sql, n, NULL);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok)
		return NULL;
	db->prep = xrealloc(db->prep, (db->nprep + 1) * sizeof *db->prep);
	struct db_prep *p = &db->prep[db->nprep++];
	p->hash = h;
	p->sql = xstrdup(sql);
	memcpy(p->name, name, sizeof name);
	return p->name;
}

PGresult *db_exec(struct db *db, const char *sql, int n, const char *const *params)
{
	db->sqlstate[0] = '\0';
	if (db_ensure(db) < 0)
		return NULL;
	const char *name = prepared_name(db, sql, n);
	PGresult *res = name ? PQexecPrepared(db->conn, name, n, params, NULL, NULL, 0)
	                     : db_exec_conn(db->conn, sql, n, params);
	if (name && PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
		/* A migration changed a table under a prepared plan ("cached plan must not
		 * change result type", 0A000), or the statement is gone (26000, after a
		 * DISCARD ALL by a pooler): forget every plan of this link and run it afresh. */
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (st && (strcmp(st, "0A000") == 0 || strcmp(st, "26000") == 0)) {
			PQclear(res);
			PQclear(PQexec(db->conn, "DEALLOCATE ALL"));
			db_prep_reset(db);
			res = db_exec_conn(db->conn, sql, n, params);
		}
	}
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		db->status = DB_OK;
		return res;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db_fail(db, DB_DOWN, NULL, PQerrorMessage(db->conn));
		PQclear(res);
		PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* Class 57 (operator intervention: admin shutdown, crash shutdown) and 08
	 * (connection exception) mean the server is going away: treat as down. */
	if (state && (strncmp(state, "57", 2) == 0 || strncmp(state, "08", 2) == 0)) {
		db_fail(db, DB_DOWN, state, PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	db_fail(db, DB_QUERY, state, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
	PQclear(res);
	return NULL;
}

int db_run(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult *res = db_exec(db, sql, n, params);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

enum db_row db_one_row(PGresult **res)
{
	if (!*res)
		return DB_ROW_FAILED;
	if (PQntuples(*res) != 1) {
		PQclear(*res);
		*res = NULL;
		return DB_ROW_NONE;
	}
	return DB_ROW_ONE;
}

int db_failed_with(const struct db *db, const char *sqlstate)
{
	return db->status == DB_QUERY && strcmp(db->sqlstate, sqlstate) == 0;
}
