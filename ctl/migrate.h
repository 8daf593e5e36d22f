/* SPDX-License-Identifier: MIT */
/* migrate: the NNN_name.sql files on disk and the versions a database has applied
 * (`chatai-ctl migrate`, and `check`'s schema line). */
#ifndef CHATAI_CTL_MIGRATE_H
#define CHATAI_CTL_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct migration {
	int version;
	char *file; /* "001_tables.sql" */
	char *path; /* DIR/001_tables.sql */
};

/* --sql-dir, else $CHATAI_SQL_DIR, else DATADIR/sql. */
const char *sql_dir(const char *flag);
/* The NNN_name.sql files of dir in version order. -1 (said) when the directory cannot be
 * read or two files share a version. */
int migrations_scan(const char *dir, struct migration **out, size_t *count);
void migrations_free(struct migration *m, size_t n);
/* The versions in schema_migrations, ascending (caller frees *out). 0 or -1 (said). */
int applied_versions(PGconn *c, int **out, size_t *n);
int has_version(const int *v, size_t n, int version);

#endif
