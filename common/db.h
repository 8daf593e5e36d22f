/* SPDX-License-Identifier: MIT */
/*
 * db: PostgreSQL helpers over libpq. Every value reaches SQL as a bound parameter;
 * there is no function here that splices strings into SQL.
 *
 * A struct db owns one PGconn. db_exec() reconnects by itself when the link was found
 * lost before the query is sent; a link lost while a query runs is reported as
 * DB_DOWN (the caller answers 503) and the next call reconnects. Reconnect attempts are
 * spaced (at most one per db->retry_ms) so that a dead server costs nothing per request.
 * One struct db per thread.
 */
#ifndef CHATAI_DB_H
#define CHATAI_DB_H

#include <libpq-fe.h>
#include <stdint.h>
#include "util.h"

enum db_status {
	DB_OK = 0,
	DB_DOWN = 1,  /* no link to the server: answer 503 */
	DB_QUERY = 2, /* the server refused the statement: see sqlstate */
};

struct db {
	PGconn *conn;          /* NULL or the current link */
	char *url;             /* connection string, owned */
	int64_t next_try_ms;   /* no reconnect attempt before this (monotonic ms) */
	int retry_ms;          /* spacing of reconnect attempts, default 250 */
	enum db_status status; /* outcome of the last db_exec() */
	char sqlstate[6];      /* of the last DB_QUERY failure, "" otherwise */
	char errmsg[256];      /* of the last failure, for logs */
	/* Statements prepared on `conn` (db_exec prepares each statement text once per
	 * link; a new link starts with none). prep_conn tells which link they belong to. */
	struct db_prep *prep;
	size_t nprep;
	PGconn *prep_conn;
};

/* Initialise; connects at once but a failure is not fatal (status DB_DOWN). */
void db_init(struct db *db, const char *url);
void db_close(struct db *db);

/* Make sure the link is up (reconnect if needed and allowed by the spacing). 0 or -1. */
int db_ensure(struct db *db) CHATAI_WUR;

/*
 * Run sql with n text parameters (NULL entries are SQL NULL). A SELECT, WITH, INSERT,
 * UPDATE or DELETE is prepared on the link the first time its text is seen, and run as
 * that prepared statement from then on (parsed and planned once per link; the first
 * DB_PREP_MAX texts of a link, the rest run unprepared). Returns a PGresult whose
 * status is PGRES_TUPLES_OK or PGRES_COMMAND_OK (caller PQclear()s it), or NULL with
 * db->status set to DB_DOWN or DB_QUERY.
 */
PGresult *db_exec(struct db *db, const char *sql, int n, const char *const *params) CHATAI_WUR;

#define DB_PREP_MAX 128

/* db_exec() for a statement whose rows do not matter: 0, or -1 (db->status says why). */
int db_run(struct db *db, const char *sql, int n, const char *const *params) CHATAI_WUR;

/* What db_one_row() found. Its values are those of the "-1 failed, -2 no such row"
 * contracts of its callers (struct lp_ops's fetch, answer_preview), which pass it on. */
enum db_row {
	DB_ROW_ONE = 0,     /* *res holds exactly one row */
	DB_ROW_FAILED = -1, /* *res was NULL: the statement failed (db->status says why) */
	DB_ROW_NONE = -2,   /* no row (or more than one): *res cleared and NULL */
};

/* What db_exec() gave, where exactly one row must come. */
enum db_row db_one_row(PGresult **res) CHATAI_WUR;

/* Forget the statements prepared on the current link (after DEALLOCATE ALL). */
void db_prep_reset(struct db *db);

/* Same, but a connection other than db's (e.g. a dedicated LISTEN link). */
PGresult *db_exec_conn(PGconn *conn, const char *sql, int n, const char *const *params);

/* 1 when the last failure was the given SQLSTATE (e.g. "23505" unique violation). */
int db_failed_with(const struct db *db, const char *sqlstate);

/* Open a plain connection (blocking). NULL on failure, with the reason logged. */
PGconn *db_connect_url(const char *url);

#endif
