/* SPDX-License-Identifier: MIT */
/*
 * chatai-ctl: the sysadmin's tool. Applies the database migrations, manages operators,
 * adds assistants, imports a knowledge base (ctl/admin.c) and checks an installation.
 *
 *   chatai-ctl [--config FILE] migrate [--sql-dir DIR]
 *   chatai-ctl [--config FILE] operator add EMAIL NAME [--role admin|operator]  (password on stdin)
 *   chatai-ctl [--config FILE] operator list | disable OPERATOR | enable OPERATOR | passwd OPERATOR
 *   chatai-ctl [--config FILE] assistant add NAME [--greeting TEXT] [--origin ORIGIN]...
 *   chatai-ctl [--config FILE] knowledge import [--replace-all] ASSISTANT_ID FILE
 *   chatai-ctl [--config FILE] check [--sql-dir DIR] [--web-dir DIR] [--list-keys]
 *
 * Exit status: 0 success, 1 failure (database, bad input, failed check), 2 usage error.
 * Everything a user typed reaches SQL as a bound parameter. Passwords are read from stdin
 * (never from the command line, where `ps` would show them) and stored as yescrypt hashes.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "check_url.h"
#include "ctl.h"
#include "config.h"
#include "credis.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "mail.h"
#include "util.h"

#ifndef CHATAI_DATADIR
#define CHATAI_DATADIR "/usr/local/share/chatai"
#endif

/* pg_advisory_lock key held by `migrate`: "chatai-m" in ASCII. Two concurrent runs
 * serialise on it, and the second one finds everything applied. */
#define MIGRATE_LOCK_KEY "7189632744036166957"

static const char usage_text[] =
	"Usage: chatai-ctl [--config FILE] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  migrate [--sql-dir DIR]             apply the pending sql/NNN_*.sql migrations\n"
	"  operator add EMAIL NAME [--role admin|operator]\n"
	"                                      add an operator; the password is read from stdin\n"
	"  operator list                       list the operators (role, state, last seen)\n"
	"  operator disable|enable OPERATOR    disable (every session ends at once) or enable an\n"
	"                                      operator, given by id or email; the last active\n"
	"                                      admin cannot be disabled\n"
	"  operator passwd OPERATOR            set a new password, read from stdin\n"
	"  assistant add NAME [--greeting TEXT] [--origin ORIGIN]...\n"
	"                                      add an assistant and print its id\n"
	"  knowledge import [--replace-all] ASSISTANT_ID FILE\n"
	"                                      import question/answer pairs (CSV with header\n"
	"                                      question,answer, or a JSON array); all or nothing;\n"
	"                                      the same question replaces its answer;\n"
	"                                      --replace-all swaps the whole set at once\n"
	"  check [--sql-dir DIR] [--web-dir DIR] [--list-keys]\n"
	"                                      check settings (unknown keys, values, file mode),\n"
	"                                      web files, the notifier's /health, database and\n"
	"                                      schema version; --list-keys prints the known keys\n"
	"  mail --once | --status              send the mails that are due (for cron), or show\n"
	"                                      the mail queue, last success and last error\n"
	"  check --url URL [--assistant ID] [--origin ORIGIN]\n"
	"                                      check a live install from outside: API, settings,\n"
	"                                      long-poll or short-poll, SSE, WebSocket\n"
	"\n"
	"Options:\n"
	"  --config FILE   settings file (default $CHATAI_CONFIG, else " CHATAI_SYSCONFDIR "/chatai.conf)\n"
	"  -h, --help      show this help\n"
	"  --version       show the version\n"
	"\n"
	"Settings come from the file and from CHATAI_* environment variables (database_url is\n"
	"CHATAI_DATABASE_URL). Migrations are found in --sql-dir, else $CHATAI_SQL_DIR, else\n"
	"" CHATAI_DATADIR "/sql; web files (check) in --web-dir, else $CHATAI_WEB_DIR, else\n"
	"" CHATAI_DATADIR "/web.\n"
	"Exit status: 0 success, 1 failure, 2 usage error. See chatai-ctl(8).\n";


void die_usage(const char *fmt, ...)
{
	va_list ap;
	fputs("chatai-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'chatai-ctl --help'.\n", stderr);
	exit(EXIT_USAGE);
}


void errorf(const char *fmt, ...)
{
	va_list ap;
	fputs("chatai-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

/* ---- small argument parser: options may come before, between or after positionals ---- */

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

/* ---- database ---------------------------------------------------------------------- */

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

/* ---- migrations on disk ------------------------------------------------------------- */

struct migration {
	int version;
	char *file; /* "001_schema.sql" */
	char *path; /* DIR/001_schema.sql */
};

static const char *sql_dir(const char *flag)
{
	if (flag && *flag)
		return flag;
	const char *env = getenv("CHATAI_SQL_DIR");
	if (env && *env)
		return env;
	return CHATAI_DATADIR "/sql";
}

static int migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static void migrations_free(struct migration *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].file);
		free(m[i].path);
	}
	free(m);
}

/* The NNN_name.sql files of dir in version order. -1 when the directory cannot be read
 * or two files share a version. */
static int migrations_scan(const char *dir, struct migration **out, size_t *count)
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

/* ---- migrate ------------------------------------------------------------------------ */

static int applied_versions(PGconn *c, int **out, size_t *n)
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

static int has_version(const int *v, size_t n, int version)
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

static int cmd_migrate(int argc, char **argv)
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

/* ---- check -------------------------------------------------------------------------- */

static int check_failed;

static void check_line(int ok, const char *what, const char *fmt, ...) CHATAI_PRINTF(3, 4);

static void check_line(int ok, const char *what, const char *fmt, ...)
{
	va_list ap;
	printf("%-4s %s: ", ok ? "OK" : "FAIL", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		check_failed = 1;
}

/* Every settings key the programs read, with what each accepts: the one list chatai-ctl
 * checks a settings file against (an unknown key is a misspelling). It must name exactly
 * the keys of the table "Settings" in docs/internals.md (tests/integration/test_ctl.py
 * compares the two through `chatai-ctl check --list-keys`). */
enum setting_kind {
	S_TEXT,     /* any text */
	S_INT,      /* integer in [min, max] */
	S_ENUM,     /* one of choices (|-separated) */
	S_PGURL,    /* libpq connection string or URI */
	S_REDISURL, /* redis://host:port/db, unix:///path or /path */
	S_HTTPURL,  /* http:// or https:// URL */
	S_LISTEN,   /* comma separated ADDR:PORT with numeric addresses ([::1]:8081) */
	S_FCGI,     /* HOST:PORT or an absolute socket path */
	S_ADDRS,    /* comma separated addresses, or none */
};

static const struct setting {
	const char *key;
	enum setting_kind kind;
	int64_t min, max;
	const char *choices;
} settings[] = {
	{ "database_url", S_PGURL, 0, 0, NULL },
	{ "redis_url", S_REDISURL, 0, 0, NULL },
	{ "log_level", S_ENUM, 0, 0, "debug|info|warn|warning|error" },
	{ "log_target", S_ENUM, 0, 0, "stderr|syslog" },
	{ "token_ttl", S_INT, 60, INT32_MAX, NULL },
	{ "rate_limit_dialogs", S_INT, 0, INT32_MAX, NULL }, /* 0 turns a limit off */
	{ "rate_limit_messages", S_INT, 0, INT32_MAX, NULL },
	{ "rate_limit_typing", S_INT, 0, INT32_MAX, NULL },
	{ "rate_limit_login", S_INT, 0, INT32_MAX, NULL },
	{ "rate_limit_reads", S_INT, 0, INT32_MAX, NULL },
	{ "fcgi_threads", S_INT, 1, 4096, NULL },
	{ "fcgi_listen", S_FCGI, 0, 0, NULL },
	{ "fcgi_longpoll_max", S_INT, 1, INT32_MAX, NULL },
	{ "fcgi_longpoll_max_per_ip", S_INT, 0, INT32_MAX, NULL }, /* 0: no cap */
	{ "fcgi_db_pool", S_INT, 1, 1024, NULL },
	{ "fcgi_db_wait", S_INT, 0, INT32_MAX, NULL },
	{ "auth_cache_ttl", S_INT, 0, INT32_MAX, NULL },
	{ "fcgi_poll_mode", S_ENUM, 0, 0, "auto|long|short" },
	{ "fcgi_inline_ai", S_ENUM, 0, 0, "auto|on|off" },
	{ "longpoll_max_wait", S_INT, 0, INT32_MAX, NULL },
	{ "notifier_listen", S_LISTEN, 0, 0, NULL },
	{ "notifier_ping_interval", S_INT, 1, INT32_MAX, NULL },
	{ "notifier_peer_timeout", S_INT, 1, INT32_MAX, NULL },
	{ "notifier_sse_ping_interval", S_INT, 1, INT32_MAX, NULL },
	{ "notifier_max_queue", S_INT, 1024, INT32_MAX, NULL },
	{ "notifier_soft_queue", S_INT, 0, INT32_MAX, NULL },
	{ "notifier_soft_queue_seconds", S_INT, 1, INT32_MAX, NULL },
	{ "notifier_max_per_ip", S_INT, 1, INT32_MAX, NULL },
	{ "notifier_trusted_proxies", S_ADDRS, 0, 0, NULL },
	{ "notifier_sndbuf", S_INT, 0, INT32_MAX, NULL },
	{ "notifier_handshake_timeout", S_INT, 1, INT32_MAX, NULL },
	{ "ai_provider", S_ENUM, 0, 0, "kb|openai" },
	{ "ai_base_url", S_HTTPURL, 0, 0, NULL },
	{ "ai_model", S_TEXT, 0, 0, NULL },
	{ "ai_api_key", S_TEXT, 0, 0, NULL },
	/* the AI worker's own bounds (ai/answer.c): it refuses to start outside them */
	{ "ai_timeout", S_INT, 1, 600, NULL },
	{ "ai_lease", S_INT, 1, 86400, NULL },
	{ "ai_max_attempts", S_INT, 1, 100, NULL },
	{ "ai_history", S_INT, 0, 200, NULL },
	{ "ai_context_entries", S_INT, 0, 20, NULL },
	{ "ai_sweep_interval", S_INT, 1, INT32_MAX, NULL },
	{ "ai_worker_id", S_TEXT, 0, 0, NULL },
	{ "ai_debug_delay_ms", S_INT, 0, 600000, NULL },
	/* mail (ai/mailq.c checks the same at start) */
	{ "smtp_url", S_TEXT, 0, 0, NULL },
	{ "mail_from", S_TEXT, 0, 0, NULL },
	{ "public_url", S_HTTPURL, 0, 0, NULL },
	{ "mail_reply_delay", S_INT, 0, 2592000, NULL },
	{ "mail_alert_delay", S_INT, 0, 2592000, NULL },
	{ "mail_alert_to", S_TEXT, 0, 0, NULL },
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static const struct setting *setting_find(const char *key)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

/* Levenshtein distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1; /* transposition */
		}
	return d[la][lb];
}

/* A numeric address and port: 127.0.0.1:8081, [::1]:8081 (what the notifier binds). */
static int valid_addr_port(const char *spec, int numeric_host, const char **why)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec) {
		*why = "expected ADDRESS:PORT";
		return 0;
	}
	int64_t p;
	if (parse_int64(colon + 1, 1, 65535, &p) < 0) {
		*why = "the port must be a number from 1 to 65535";
		return 0;
	}
	char host[256];
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof host) {
		*why = "expected ADDRESS:PORT";
		return 0;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	unsigned char buf[16];
	if (numeric_host && inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
		*why = "the address must be numeric (127.0.0.1, 0.0.0.0, [::1])";
		return 0;
	}
	for (const char *c = host; *c; c++)
		if (isspace((unsigned char)*c)) {
			*why = "the address contains a space";
			return 0;
		}
	return 1;
}

/* Why a value is refused, or NULL when it is fine. */
static const char *setting_problem(const struct setting *s, const char *v, char *buf, size_t bufsz)
{
	const char *why = NULL;
	switch (s->kind) {
	case S_TEXT:
		return NULL;
	case S_INT: {
		int64_t n;
		if (parse_int64(v, s->min, s->max, &n) < 0) {
			if (s->max == INT32_MAX)
				snprintf(buf, bufsz, "expected an integer >= %lld", (long long)s->min);
			else
				snprintf(buf, bufsz, "expected an integer from %lld to %lld", (long long)s->min,
					 (long long)s->max);
			return buf;
		}
		return NULL;
	}
	case S_ENUM: {
		size_t vl = strlen(v);
		int anycase = strncmp(s->key, "log_", 4) == 0; /* as log_init() reads them */
		for (const char *c = s->choices; *c;) {
			size_t l = strcspn(c, "|");
			if (l == vl && (anycase ? strncasecmp(c, v, l) : strncmp(c, v, l)) == 0)
				return NULL;
			c += l + (c[l] == '|');
		}
		snprintf(buf, bufsz, "expected one of %s", s->choices);
		for (char *p = buf; *p; p++)
			if (*p == '|')
				*p = ' ';
		return buf;
	}
	case S_PGURL: {
		char *err = NULL;
		PQconninfoOption *o = PQconninfoParse(v, &err);
		if (!o) {
			snprintf(buf, bufsz, "not a libpq connection string: %s", err ? pq_msg(err) : "out of memory");
			PQfreemem(err);
			return buf;
		}
		PQconninfoFree(o);
		return NULL;
	}
	case S_REDISURL: {
		struct credis_url u;
		if (credis_url_parse(v, &u, &why) < 0) {
			snprintf(buf, bufsz, "%s", why ? why : "not a redis URL");
			return buf;
		}
		credis_url_free(&u);
		return NULL;
	}
	case S_HTTPURL:
		if (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8))
			return "expected an http:// or https:// URL";
		if (strpbrk(v, " \t"))
			return "a URL has no spaces";
		return NULL;
	case S_LISTEN: {
		char *copy = xstrdup(v), *save = NULL;
		int n = 0;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ')
				t++;
			if (!*t)
				continue;
			n++;
			if (!valid_addr_port(t, 1, &why)) {
				snprintf(buf, bufsz, "'%s': %s", t, why);
				free(copy);
				return buf;
			}
		}
		free(copy);
		return n ? NULL : "expected ADDRESS:PORT[,ADDRESS:PORT...]";
	}
	case S_FCGI:
		if (v[0] == '/') {
			char *dir = xstrdup(v);
			char *slash = strrchr(dir, '/');
			struct stat st;
			*slash = '\0';
			int ok = stat(*dir ? dir : "/", &st) == 0 && S_ISDIR(st.st_mode);
			free(dir);
			return ok ? NULL : "the socket's directory does not exist";
		}
		if (!valid_addr_port(v, 0, &why)) {
			snprintf(buf, bufsz, "%s (or an absolute socket path)", why);
			return buf;
		}
		return NULL;
	case S_ADDRS: {
		if (strcasecmp(v, "none") == 0)
			return NULL;
		char *copy = xstrdup(v), *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			unsigned char a[16];
			if (strcmp(t, "none") != 0 && inet_pton(AF_INET, t, a) != 1 && inet_pton(AF_INET6, t, a) != 1) {
				snprintf(buf, bufsz, "'%s' is not a numeric address", t);
				free(copy);
				return buf;
			}
		}
		free(copy);
		return NULL;
	}
	}
	return NULL;
}

struct key_scan {
	int bad;
	int secret; /* the file holds a password or an API key */
};

static void check_file_key(const char *key, const char *value, void *arg)
{
	struct key_scan *ks = arg;
	if (!setting_find(key)) {
		const char *best = NULL;
		size_t bd = 99;
		for (size_t i = 0; i < NSETTINGS; i++) {
			size_t d = edit_distance(key, settings[i].key);
			if (d < bd) {
				bd = d;
				best = settings[i].key;
			}
		}
		if (best && bd <= 3)
			check_line(0, "settings", "%s: unknown key '%s' (did you mean %s?)", config_path(), key, best);
		else
			check_line(0, "settings", "%s: unknown key '%s' (chatai.conf(5) lists the keys)", config_path(),
				   key);
		ks->bad = 1;
		return;
	}
	if (!*value)
		return;
	if (!strcmp(key, "ai_api_key"))
		ks->secret = 1;
	if (!strcmp(key, "database_url")) {
		PQconninfoOption *o = PQconninfoParse(value, NULL);
		for (PQconninfoOption *p = o; p && p->keyword; p++)
			if (!strcmp(p->keyword, "password") && p->val && *p->val)
				ks->secret = 1;
		if (o)
			PQconninfoFree(o);
	}
	if (!strcmp(key, "redis_url")) {
		struct credis_url u;
		const char *why;
		if (credis_url_parse(value, &u, &why) == 0) {
			if (u.password)
				ks->secret = 1;
			credis_url_free(&u);
		}
	}
}

static void check_settings(void)
{
	int bad = 0;
	char buf[512];
	/* the file: unknown keys, and who may read it */
	if (config_path()) {
		struct key_scan ks = { 0, 0 };
		config_each_file_key(check_file_key, &ks);
		bad |= ks.bad;
		struct stat st;
		if (ks.secret && stat(config_path(), &st) == 0 && (st.st_mode & S_IROTH)) {
			check_line(0, "settings",
				   "%s holds a password and every user may read it (mode %03o): chmod 640 it, "
				   "group chatai (or the web server's group)",
				   config_path(), (unsigned)(st.st_mode & 0777));
			bad = 1;
		}
	}
	/* every value, wherever it comes from (file or CHATAI_* environment) */
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = config_get(settings[i].key, NULL);
		if (!v)
			continue;
		const char *why = setting_problem(&settings[i], v, buf, sizeof buf);
		if (why) {
			/* never print a secret */
			int secret = !strcmp(settings[i].key, "database_url") || !strcmp(settings[i].key, "redis_url") ||
				     !strcmp(settings[i].key, "ai_api_key");
			check_line(0, "settings", "%s = \"%s\": %s", settings[i].key, secret ? "..." : v, why);
			bad = 1;
		}
	}
	if (!strcmp(config_get("ai_provider", "kb"), "openai") &&
	    (!config_get("ai_base_url", NULL) || !config_get("ai_model", NULL))) {
		check_line(0, "settings", "ai_provider = openai needs ai_base_url and ai_model");
		bad = 1;
	}
	if (config_get("ai_lease", NULL) && config_get_int("ai_lease", 60) <= config_get_int("ai_timeout", 20))
		printf("warn settings: ai_lease is not longer than ai_timeout: slow answers may be retried\n");
	if (!config_get("database_url", NULL)) {
		check_line(0, "settings", "database_url is not set (CHATAI_DATABASE_URL or database_url in %s)",
			   config_path() ? config_path() : CHATAI_SYSCONFDIR "/chatai.conf, which does not exist");
		bad = 1;
	}
	if (!bad)
		check_line(1, "settings", "%s", config_path() ? config_path() : "no settings file (environment only)");
}

/* The web assets: the document root the web server serves. */
static void check_web(const char *dir)
{
	char *js = xasprintf("%s/widget/chatai.js", dir);
	char *admin = xasprintf("%s/admin/index.html", dir);
	if (access(js, R_OK) == 0 && access(admin, R_OK) == 0)
		check_line(1, "web", "%s", dir);
	else
		check_line(0, "web", "%s: %s", dir,
			   access(dir, F_OK) == 0 ? "no widget/chatai.js or admin/index.html in it"
						  : "not found (use --web-dir or CHATAI_WEB_DIR)");
	free(js);
	free(admin);
}

/* GET /health from the first address of notifier_listen; 0.0.0.0 and :: mean the local host. */
static void check_notifier(const char *listen)
{
	char *copy = xstrdup(listen), *save = NULL;
	char *first = strtok_r(copy, ",", &save);
	while (first && *first == ' ')
		first++;
	const char *why = NULL;
	if (!first || !valid_addr_port(first, 1, &why)) {
		free(copy);
		return; /* reported by check_settings */
	}
	char *colon = strrchr(first, ':');
	*colon = '\0';
	const char *port = colon + 1;
	char *host = first;
	if (host[0] == '[') {
		host++;
		host[strlen(host) - 1] = '\0';
	}
	if (!strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::"))
		host = "::1";
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char status[128] = "";
	int fd = -1;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		snprintf(status, sizeof status, "bad address");
		goto out;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 3, 0 };
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(status, sizeof status, "%s", strerror(errno));
		goto out;
	}
	static const char req[] = "GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n";
	if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
		snprintf(status, sizeof status, "%s", strerror(errno));
		goto out;
	}
	size_t got = 0;
	ssize_t r;
	while (got < sizeof status - 1 && (r = read(fd, status + got, sizeof status - 1 - got)) > 0)
		got += (size_t)r;
	status[got] = '\0';
	status[strcspn(status, "\r\n")] = '\0';
	if (got == 0)
		snprintf(status, sizeof status, "no answer");
out:
	if (ai)
		freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
	char *sp = strchr(status, ' ');
	if (!strncmp(status, "HTTP/", 5) && sp && !strncmp(sp + 1, "200", 3))
		check_line(1, "notifier", "http://%s%s%s:%s/health answers 200", strchr(host, ':') ? "[" : "", host,
			   strchr(host, ':') ? "]" : "", port);
	else
		check_line(0, "notifier", "http://%s%s%s:%s/health: %s (is chatai-notifier running?)",
			   strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, status);
	free(copy);
}

static void check_schema(PGconn *c, const char *dir)
{
	PGresult *r = PQexec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		check_line(0, "schema", "%s", pq_msg(PQresultErrorMessage(r)));
		PQclear(r);
		return;
	}
	int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!exists) {
		check_line(0, "schema", "not initialised (run chatai-ctl migrate)");
		return;
	}
	int *done = NULL;
	size_t ndone = 0;
	if (applied_versions(c, &done, &ndone) < 0) {
		check_failed = 1;
		return;
	}
	int top = ndone ? done[ndone - 1] : 0;
	struct migration *m = NULL;
	size_t n = 0;
	struct stat st;
	if (stat(dir, &st) != 0) {
		check_line(0, "schema", "version %d, but the migrations directory %s is missing: %s (use --sql-dir or CHATAI_SQL_DIR)",
			   top, dir, strerror(errno));
		free(done);
		return;
	}
	if (migrations_scan(dir, &m, &n) < 0) {
		check_line(0, "schema", "version %d; cannot read %s", top, dir);
		free(done);
		return;
	}
	size_t pending = 0;
	const char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!has_version(done, ndone, m[i].version)) {
			if (!first)
				first = m[i].file;
			pending++;
		}
	}
	if (pending)
		check_line(0, "schema", "version %d, %zu migration(s) pending from %s (run chatai-ctl migrate)", top,
			   pending, first);
	else
		check_line(1, "schema", "version %d, up to date", top);
	migrations_free(m, n);
	free(done);
}

static const char *web_dir(const char *flag)
{
	if (flag && *flag)
		return flag;
	const char *env = getenv("CHATAI_WEB_DIR");
	if (env && *env)
		return env;
	return CHATAI_DATADIR "/web";
}

static int cmd_check(int argc, char **argv)
{
	const char *dir_flag = NULL, *web_flag = NULL, *list = NULL;
	struct opt opts[] = { { "--sql-dir", 1, &dir_flag, NULL, 0 },
			      { "--web-dir", 1, &web_flag, NULL, 0 },
			      { "--list-keys", 0, &list, NULL, 0 },
			      { NULL, 0, NULL, NULL, 0 } };
	const char *pos[1];
	parse_args(argc, argv, opts, pos, 0);
	if (list) {
		for (size_t i = 0; i < NSETTINGS; i++)
			puts(settings[i].key);
		return 0;
	}
	check_settings();
	check_web(web_dir(web_flag));
	if (config_get("notifier_listen", NULL))
		check_notifier(config_get("notifier_listen", NULL));
	const char *url = config_get("database_url", NULL);
	if (url) {
		PGconn *c = PQconnectdb(url);
		if (PQstatus(c) != CONNECTION_OK) {
			check_line(0, "database", "cannot connect: %s", pq_msg(PQerrorMessage(c)));
		} else {
			int v = PQserverVersion(c);
			check_line(1, "database", "PostgreSQL %d.%d, database %s on %s", v / 10000, v % 10000,
				   PQdb(c), PQhost(c) && *PQhost(c) ? PQhost(c) : "local socket");
			check_schema(c, sql_dir(dir_flag));
			char mail[512];
			int mail_ok = ctl_mail_check(c, mail, sizeof mail);
			check_line(mail_ok, "mail", "%s", mail);
		}
		PQfinish(c);
	}
	return check_failed ? EXIT_FAIL : 0;
}

/* ---- main --------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *config_file = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!strcmp(a, "--version")) {
			printf("chatai-ctl %s\n", PACKAGE_VERSION);
			return 0;
		}
		if (!strcmp(a, "--config")) {
			if (i + 1 >= argc)
				die_usage("option --config needs a value");
			config_file = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			config_file = a + 9;
		} else {
			die_usage("unknown option %s", a);
		}
	}
	if (i >= argc)
		die_usage("no command given");
	const char *cmd = argv[i];
	const char *err = NULL;
	/* check --url: a live install from outside; no settings file needed (check_url.c) */
	if (!strcmp(cmd, "check") && check_url_wanted(argc - i - 1, argv + i + 1))
		return check_url_main(argc - i - 1, argv + i + 1);

	json_init();
	if (config_load(config_file, &err) < 0) {
		if (!strcmp(cmd, "check")) {
			printf("FAIL settings: %s\n", err);
			return EXIT_FAIL;
		}
		errorf("settings: %s", err);
		return EXIT_FAIL;
	}
	log_init("chatai-ctl", "stderr", config_get("log_level", "info"));

	int rc;
	int sub_argc = argc - i - 1;
	char **sub_argv = argv + i + 1;
	if (!strcmp(cmd, "migrate"))
		rc = cmd_migrate(sub_argc, sub_argv);
	else if (!strcmp(cmd, "operator"))
		rc = cmd_operator(sub_argc, sub_argv);
	else if (!strcmp(cmd, "assistant"))
		rc = cmd_assistant(sub_argc, sub_argv);
	else if (!strcmp(cmd, "knowledge"))
		rc = cmd_knowledge(sub_argc, sub_argv);
	else if (!strcmp(cmd, "check"))
		rc = cmd_check(sub_argc, sub_argv);
	else if (!strcmp(cmd, "mail"))
		rc = ctl_mail_main(sub_argc, sub_argv);
	else if (!strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		rc = 0;
	} else
		die_usage("unknown command '%s'", cmd);
	config_free();
	return rc;
}
