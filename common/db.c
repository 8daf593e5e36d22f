/* db: libpq helpers with bound parameters and self-healing links. */
#include "autoconfig.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void db_close(struct db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
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
	db->status = DB_OK;
	return 0;
}

PGresult *db_exec_conn(PGconn *conn, const char *sql, int n, const char *const *params)
{
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

PGresult *db_exec(struct db *db, const char *sql, int n, const char *const *params)
{
	db->sqlstate[0] = '\0';
	if (db_ensure(db) < 0)
		return NULL;
	PGresult *res = db_exec_conn(db->conn, sql, n, params);
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

char *db_value(PGresult *res, int row, int col)
{
	if (!res || row >= PQntuples(res) || col >= PQnfields(res) || PQgetisnull(res, row, col))
		return NULL;
	return xstrdup(PQgetvalue(res, row, col));
}

int db_failed_with(const struct db *db, const char *sqlstate)
{
	return db->status == DB_QUERY && strcmp(db->sqlstate, sqlstate) == 0;
}
