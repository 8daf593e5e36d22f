/* SPDX-License-Identifier: MIT */
/* cli: chatai-ctl's messages, argument parser, database helpers and file reading. */
#include "autoconfig.h"
#include "ctl.h"
#include "buf.h"
#include "config.h"
#include "db.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "chatai-ctl: " and the message on stderr (no line end). */
static void say(const char *fmt, va_list ap)
{
	fputs("chatai-ctl: ", stderr);
	vfprintf(stderr, fmt, ap);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	fputs("\nTry 'chatai-ctl --help'.\n", stderr);
	exit(EXIT_USAGE);
}

void errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *data_dir(const char *flag, const char *env, const char *def)
{
	const char *e = getenv(env);
	if (flag && *flag)
		return flag;
	return e && *e ? e : def;
}

/* libpq messages end with a newline (and may carry LINE/context lines): keep them whole
 * but without the trailing newline. */
const char *pq_msg(const char *m)
{
	static char buf[2048];
	snprintf(buf, sizeof buf, "%s", m ? m : "");
	size_t l = strlen(buf);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		buf[--l] = '\0';
	return buf;
}

/* Split argv into known options and positionals (at most maxpos). Exits on misuse. */
int parse_args(int argc, char **argv, struct opt *opts, const char **pos, int maxpos)
{
	int npos = 0;
	int only_pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && a[0] == '-' && a[1] == '-' && a[2]) {
			const char *eq = strchr(a, '=');
			size_t nl = eq ? (size_t)(eq - a) : strlen(a);
			struct opt *o = NULL;
			for (struct opt *p = opts; p && p->name; p++)
				if (strlen(p->name) == nl && strncmp(p->name, a, nl) == 0)
					o = p;
			if (!o)
				die_usage("unknown option %.*s", (int)nl, a);
			const char *v = NULL;
			if (o->takes_value) {
				if (eq)
					v = eq + 1;
				else if (i + 1 < argc)
					v = argv[++i];
				else
					die_usage("option %s needs a value", o->name);
			} else if (eq) {
				die_usage("option %s takes no value", o->name);
			}
			if (o->multi) {
				*o->multi = xrealloc(*o->multi, (o->nmulti + 2) * sizeof **o->multi);
				(*o->multi)[o->nmulti++] = v;
				(*o->multi)[o->nmulti] = NULL;
			} else if (o->value) {
				*o->value = v ? v : "";
			}
			continue;
		}
		if (npos >= maxpos)
			die_usage("unexpected argument '%s'", a);
		pos[npos++] = a;
	}
	return npos;
}

PGconn *ctl_connect(void)
{
	const char *url = config_get("database_url", NULL);
	if (!url) {
		errorf("database_url is not set (set CHATAI_DATABASE_URL or database_url in %s)",
		       config_path() ? config_path() : "the settings file");
		return NULL;
	}
	/* db_connect_url logs libpq's reason (host and user, never the password). */
	PGconn *c = db_connect_url(url);
	if (!c) {
		errorf("cannot connect to the database (reason above); check database_url");
		return NULL;
	}
	/* NOTICEs such as "relation already exists, skipping" are noise here. */
	PGresult *r = PQexec(c, "SET client_min_messages = warning");
	PQclear(r);
	return c;
}

/* Run a statement; on failure print what and why and return NULL. */
PGresult *run(PGconn *c, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *r = db_exec_conn(c, sql, n, params);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	errorf("%s: %s", what, pq_msg(PQresultErrorMessage(r)));
	PQclear(r);
	return NULL;
}

int run_cmd(PGconn *c, const char *what, const char *sql)
{
	PGresult *r = run(c, what, sql, 0, NULL);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

int sqlstate_is(PGresult *r, const char *state)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return s && strcmp(s, state) == 0;
}

/* Read a whole file (at most max bytes) as a NUL-terminated buffer. "-" is stdin. */
char *read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b = { 0 };
	char chunk[65536];
	size_t r;
	if (!f) {
		errorf("%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_add(&b, chunk, r);
		if (b.len > max) {
			errorf("%s: larger than %zu bytes", path, max);
			goto fail;
		}
	}
	if (ferror(f)) {
		errorf("%s: read error: %s", path, strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	buf_add(&b, "", 0); /* an empty file is "" */
	*len = b.len;
	return b.p;
fail:
	if (f != stdin)
		fclose(f);
	buf_free(&b);
	return NULL;
}
