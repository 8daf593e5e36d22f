/* SPDX-License-Identifier: MIT */
/* check_host: `chatai-ctl check`: settings, web files, the notifier's /health, the database and
 * the schema version of this host (check --url, a live install from outside: check_url.c). */
#include "autoconfig.h"
#include "check_host.h"
#include "config.h"
#include "ctl.h"
#include "mail.h"
#include "migrate.h"
#include "settings.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static int failed;

int check_failed(void)
{
	return failed;
}

void check_line(int ok, const char *what, const char *fmt, ...)
{
	va_list ap;
	printf("%-4s %s: ", ok ? "OK" : "FAIL", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		failed = 1;
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
	if (!first || !settings_addr_port(first, 1, &why)) {
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
		failed = 1;
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
	return data_dir(flag, "CHATAI_WEB_DIR", CHATAI_DATADIR "/web");
}

int cmd_check(int argc, char **argv)
{
	const char *dir_flag = NULL, *web_flag = NULL, *list = NULL;
	struct opt opts[] = { { "--sql-dir", 1, &dir_flag, NULL, 0 },
			      { "--web-dir", 1, &web_flag, NULL, 0 },
			      { "--list-keys", 0, &list, NULL, 0 },
			      { NULL, 0, NULL, NULL, 0 } };
	const char *pos[1];
	parse_args(argc, argv, opts, pos, 0);
	if (list) {
		for (size_t i = 0; i < SET_COUNT; i++)
			puts(settings_table[i].key);
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
	return failed ? EXIT_FAIL : 0;
}
