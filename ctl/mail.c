/* SPDX-License-Identifier: MIT */
/* mail: chatai-ctl mail --once | --status (mail.h). */
#include "autoconfig.h"
#include "mail.h"
#include "config.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "mailq.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAIL_ONCE_MAX 1000

static const char mail_usage[] =
	"Usage: chatai-ctl mail --once     send the mails that are due, then exit (for cron)\n"
	"       chatai-ctl mail --status   print the queue and the last success and error\n";

static int mail_once(void)
{
	struct mailq_cfg c;
	int on = mailq_load(&c);
	if (on <= 0) {
		fprintf(stderr, "chatai-ctl: mail is off (%s)\n",
			on == 0 ? "smtp_url is not set" : "a mail setting is wrong");
		return on == 0 ? 0 : 1;
	}
	struct db db;
	db_init(&db, config_get("database_url", ""));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int sent = mailq_run(&db, &c, MAIL_ONCE_MAX, INT64_MAX / 2);
	if (sent < 0)
		fprintf(stderr, "chatai-ctl: mail: database: %s\n", db.errmsg);
	else
		printf("%d mail(s) sent\n", sent);
	db_close(&db);
	mailq_free(&c);
	curl_global_cleanup();
	return sent < 0 ? 1 : 0;
}

int ctl_mail_check(PGconn *c, char *buf, size_t n)
{
	const char *url = config_get("smtp_url", NULL);
	struct mailq_cfg cfg;
	int on = mailq_load(&cfg);
	mailq_free(&cfg);
	if (on < 0) {
		snprintf(buf, n, "off: %s", mailq_problem());
		return 0;
	}
	PGresult *r = PQexec(c, "SELECT chatai_mail_health()::text");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		snprintf(buf, n, "%s; no mail state in the database (run chatai-ctl migrate)",
			 url ? "on" : "off");
		PQclear(r);
		return !url;
	}
	cJSON *j = cJSON_Parse(PQgetvalue(r, 0, 0));
	PQclear(r);
	const char *ok = NULL, *err_at = NULL, *err = NULL;
	int64_t queued = 0, failed = 0;
	(void)json_get_str(j, "last_success_at", &ok);
	(void)json_get_str(j, "last_error_at", &err_at);
	(void)json_get_str(j, "last_error", &err);
	(void)json_get_int64(j, "queued", &queued);
	(void)json_get_int64(j, "failed", &failed);
	int fine = !url || !err_at || (ok && strcmp(ok, err_at) > 0);
	snprintf(buf, n, "%s; %lld queued, %lld failed; last success %s; last error %s%s%.200s",
		 url ? "on" : "off (smtp_url unset)", (long long)queued, (long long)failed, ok ? ok : "never",
		 err_at ? err_at : "none", err ? ": " : "", err ? err : "");
	cJSON_Delete(j);
	return fine;
}

static int mail_status(void)
{
	PGconn *c = PQconnectdb(config_get("database_url", ""));
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "chatai-ctl: database: %s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	char buf[512];
	int fine = ctl_mail_check(c, buf, sizeof buf);
	printf("mail %s\n", buf);
	PQfinish(c);
	return fine ? 0 : 1;
}

int ctl_mail_main(int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "--once"))
		return mail_once();
	if (argc == 1 && !strcmp(argv[0], "--status"))
		return mail_status();
	fputs(mail_usage, stderr);
	return 2;
}
