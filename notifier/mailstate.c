/* SPDX-License-Identifier: MIT */
/* mailstate: the mail outbox's health, read periodically (mailstate.h). */
#include "autoconfig.h"
#include "mailstate.h"
#include "config.h"
#include "loop.h"
#include "pgfeed.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static struct loop_timer timer;
static int enabled;
static int known;
static char *json; /* chatai_mail_health() as text */
static long long queued, failed;
static double success_at, error_at; /* Unix seconds, 0: never */

static void on_result(void *arg, PGresult *res)
{
	(void)arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		known = 0;
		return;
	}
	free(json);
	json = xstrdup(PQgetvalue(res, 0, 0));
	queued = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	failed = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	success_at = PQgetisnull(res, 0, 3) ? 0 : strtod(PQgetvalue(res, 0, 3), NULL);
	error_at = PQgetisnull(res, 0, 4) ? 0 : strtod(PQgetvalue(res, 0, 4), NULL);
	known = 1;
}

static void tick(void *data)
{
	(void)data;
	pgfeed_query("SELECT h::text, h->>'queued', h->>'failed', extract(epoch FROM m.last_success_at),"
		     " extract(epoch FROM m.last_error_at) FROM chatai_mail_health() h, mail_health m",
		     0, NULL, 0, on_result, NULL);
	loop_timer_again(&timer, MAILSTATE_INTERVAL);
}

void mailstate_start(void)
{
	enabled = config_get("smtp_url", NULL) != NULL;
	loop_timer_init(&timer, tick, NULL);
	tick(NULL);
}

char *mailstate_json(void)
{
	const char *on = enabled ? "true" : "false";
	if (!known || !json || json[0] != '{' || json[1] == '}')
		return xasprintf("{\"enabled\":%s,\"state\":\"unknown\"}", on);
	return xasprintf("{\"enabled\":%s,%s", on, json + 1);
}

char *mailstate_metrics(void)
{
	if (!known)
		return xasprintf(
			"# HELP chatai_notifier_mail_enabled Mail is on (smtp_url set).\n"
			"# TYPE chatai_notifier_mail_enabled gauge\nchatai_notifier_mail_enabled %d\n",
			enabled);
	return xasprintf(
		"# HELP chatai_notifier_mail_enabled Mail is on (smtp_url set).\n"
		"# TYPE chatai_notifier_mail_enabled gauge\nchatai_notifier_mail_enabled %d\n"
		"# HELP chatai_notifier_mail_queue Mails waiting to be sent.\n"
		"# TYPE chatai_notifier_mail_queue gauge\nchatai_notifier_mail_queue %lld\n"
		"# HELP chatai_notifier_mail_failed Mails failed or of uncertain delivery.\n"
		"# TYPE chatai_notifier_mail_failed gauge\nchatai_notifier_mail_failed %lld\n"
		"# HELP chatai_notifier_mail_last_success_timestamp_seconds Last mail sent (0: never).\n"
		"# TYPE chatai_notifier_mail_last_success_timestamp_seconds gauge\n"
		"chatai_notifier_mail_last_success_timestamp_seconds %.0f\n"
		"# HELP chatai_notifier_mail_last_error_timestamp_seconds Last send error (0: never).\n"
		"# TYPE chatai_notifier_mail_last_error_timestamp_seconds gauge\n"
		"chatai_notifier_mail_last_error_timestamp_seconds %.0f\n",
		enabled, queued, failed, success_at, error_at);
}
