/* SPDX-License-Identifier: MIT */
/*
 * mailstate: whether mail works (issue 15), for /health and /metrics. Every
 * MAILSTATE_INTERVAL seconds the query link reads chatai_mail_health() (sql/007_mail.sql):
 * the queue length, failed mails, last success and last error of every sender. Mail is
 * "enabled" when smtp_url is set in the notifier's settings (the same file the senders
 * read). Before the first answer, or when the query fails (an unmigrated database), the state
 * is unknown.
 */
#ifndef CHATAI_MAILSTATE_H
#define CHATAI_MAILSTATE_H

#define MAILSTATE_INTERVAL 10.0

/* Start the periodic reads (after pgfeed_start). */
void mailstate_start(void);

/* {"enabled": bool, "queued", "failed", "last_success_at", "last_error_at", "last_error"}
 * or {"enabled": bool, "state": "unknown"}: fresh text, caller frees. */
char *mailstate_json(void);

/* Prometheus lines (gauges chatai_notifier_mail_*): fresh text, caller frees. */
char *mailstate_metrics(void);

#endif
