/* SPDX-License-Identifier: MIT */
/* migrate: `chatai-ctl migrate` applies the pending sql/NNN_*.sql files, each in its own
 * transaction, under an advisory lock. */
#include "autoconfig.h"
#include "migrate.h"
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pg_advisory_lock key held by `migrate`: "chatai-m" in ASCII. Two concurrent runs
 * serialise on it, and the second one finds everything applied. */
#define MIGRATE_LOCK_KEY "7189632744036166957"

const char *sql_dir(const char *flag)
{
	return data_dir(flag, "CHATAI_SQL_DIR", CHATAI_DATADIR "/sql");
}

static int migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

void migrations_free(struct migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].file);
		free(m[i].path);
	}
	free(m);
}

int migrations_scan(const char *dir, struct migration **out, size_t *count)
{
	DIR *d = opendir(dir);
	struct migration *m = NULL;
	size_t n = 0;
	*out = NULL;
	*count = 0;
	if (!d) {
		errorf("cannot read the migrations directory %s: %s (use --sql-dir or CHATAI_SQL_DIR)",
		       dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		size_t digits = strspn(name, "0123456789");
		size_t len = strlen(name);
		if (digits == 0 || name[digits] != '_' || len < digits + 6 ||
		    strcmp(name + len - 4, ".sql") != 0)
			continue;
		char num[16];
		int64_t v;
		if (digits >= sizeof num) {
			errorf("%s/%s: version number too long", dir, name);
			goto fail;
		}
		memcpy(num, name, digits);
		num[digits] = '\0';
		if (parse_int64(num, 1, 2147483647, &v) < 0) {
			errorf("%s/%s: bad version number", dir, name);
			goto fail;
		}
		m = xrealloc(m, (n + 1) * sizeof *m);
		m[n].version = (int)v;
		m[n].file = xstrdup(name);
		m[n].path = xasprintf("%s/%s", dir, name);
		n++;
	}
	closedir(d);
	d = NULL;
	qsort(m, n, sizeof *m, migration_cmp);
	for (size_t i = 1; i < n; i++) {
		if (m[i].version == m[i - 1].version) {
			errorf("%s and %s have the same version number", m[i - 1].file, m[i].file);
			goto fail;
		}
	}
	*out = m;
	*count = n;
	return 0;
fail:
	if (d)
		closedir(d);
	migrations_free(m, n);
	return -1;
}

int applied_versions(PGconn *c, int **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	PGresult *r = run(c, "reading schema_migrations",
			  "SELECT version FROM schema_migrations ORDER BY version", 0, NULL);
	if (!r)
		return -1;
	size_t rows = (size_t)PQntuples(r);
	*out = xcalloc(rows ? rows : 1, sizeof **out);
	for (size_t i = 0; i < rows; i++)
		(*out)[i] = atoi(PQgetvalue(r, (int)i, 0));
	*n = rows;
	PQclear(r);
	return 0;
}

int has_version(const int *v, size_t n, int version)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == version)
			return 1;
	return 0;
}

/* Apply one migration file in its own transaction, recording it on success. Our files
 * record themselves too (their last statement inserts their own schema_migrations row, so
 * that applying them by hand with psql leaves the same record): ON CONFLICT covers both. */
static int apply_one(PGconn *c, const struct migration *m)
{
	size_t len = 0;
	char *sql = read_file(m->path, SIZE_MAX / 2, &len);
	int rc = -1;
	if (!sql)
		return -1;
	if (run_cmd(c, "BEGIN", "BEGIN") < 0)
		goto out;
	/* PQexec (simple protocol) runs the many statements of a file in one call. */
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		errorf("migration %s failed: %s", m->file, pq_msg(PQresultErrorMessage(r)));
		PQclear(r);
		goto rollback;
	}
	PQclear(r);
	char ver[16];
	snprintf(ver, sizeof ver, "%d", m->version);
	const char *params[] = { ver, m->file };
	r = run(c, "recording the migration",
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now()) "
		"ON CONFLICT (version) DO NOTHING",
		2,
		params);
	if (!r)
		goto rollback;
	PQclear(r);
	if (run_cmd(c, "COMMIT", "COMMIT") < 0)
		goto out;
	rc = 0;
	goto out;
rollback:
	r = PQexec(c, "ROLLBACK");
	PQclear(r);
out:
	free(sql);
	return rc;
}

int cmd_migrate(int argc, char **argv)
{
	const char *dir_flag = NULL;
	struct opt opts[] = { { "--sql-dir", 1, &dir_flag, NULL, 0 }, { NULL, 0, NULL, NULL, 0 } };
	const char *pos[1];
	parse_args(argc, argv, opts, pos, 0);
	const char *dir = sql_dir(dir_flag);

	struct migration *m = NULL;
	size_t n = 0;
	int *done = NULL;
	size_t ndone = 0;
	PGconn *c = NULL;
	int rc = EXIT_FAIL, applied = 0;

	if (migrations_scan(dir, &m, &n) < 0)
		goto out;
	if (n == 0) {
		errorf("no NNN_name.sql migration in %s", dir);
		goto out;
	}
	c = ctl_connect();
	if (!c)
		goto out;
	/* Session-level lock: held across the per-file transactions below. */
	PGresult *r = run(c, "taking the migration lock", "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL);
	if (!r)
		goto out;
	PQclear(r);
	if (run_cmd(c, "creating schema_migrations",
		    "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " version int PRIMARY KEY,"
		    " name text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())") < 0)
		goto out;
	if (applied_versions(c, &done, &ndone) < 0)
		goto out;
	for (size_t i = 0; i < ndone; i++) {
		int known = 0;
		for (size_t k = 0; k < n; k++)
			known |= m[k].version == done[i];
		if (!known)
			fprintf(stderr, "chatai-ctl: warning: the database has migration %d, which is not in %s "
					"(is this chatai-ctl older than the database?)\n",
				done[i], dir);
	}
	for (size_t i = 0; i < n; i++) {
		if (has_version(done, ndone, m[i].version))
			continue;
		if (apply_one(c, &m[i]) < 0) {
			errorf("stopped at %s: nothing of it was applied; %d earlier migration(s) were", m[i].file,
			       applied);
			goto out;
		}
		printf("applied %s\n", m[i].file);
		applied++;
	}
	printf("schema at version %d (%d migration(s) applied now)\n", m[n - 1].version, applied);
	rc = 0;
out:
	if (c) {
		/* Closing the session releases the advisory lock as well. */
		PQfinish(c);
	}
	free(done);
	migrations_free(m, n);
	return rc;
}
