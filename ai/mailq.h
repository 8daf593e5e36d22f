/* SPDX-License-Identifier: MIT */
/*
 * mailq: the mail outbox of sql/007_mail.sql, emptied (issue 15). Each step claims what
 * is due for one mail (chatai_mail_claim: every due operator alert as one digest, else
 * one reply mail or transcript), composes it from the dialog, sends it (mailsend.h) and
 * records the outcome (chatai_mail_result). Used by the chatai-ai loop, `chatai-ctl mail
 * --once` and chatai.fcgi's inline path when no worker is alive.
 *
 * Never twice: the claim commits 'sending' before the mail server is reached, and a row
 * left 'sending' by a sender that died is marked 'uncertain', never sent again. What
 * remains: a sender killed between that commit and the server's acceptance loses the
 * mail (it shows as 'uncertain' to operators) rather than doubling it.
 */
#ifndef CHATAI_AI_MAILQ_H
#define CHATAI_AI_MAILQ_H

#include <stdint.h>
#include "db.h"

#define MAILQ_REJECT_TRIES 3  /* a 5xx marks the mail failed after this many tries */
#define MAILQ_RETRY_TRIES  10 /* 4xx and connection errors: failed after this many */

struct mailq_cfg {
	char *smtp_url; /* NULL: mail is off */
	char *from;
	char *public_url; /* the widget's page: resume links are it + "#chatai-resume=..." */
	char *panel_url;  /* its origin + "/admin/" */
	char *alert_to;   /* comma separated addresses, or NULL: every admin */
	int reply_delay;  /* seconds */
	int alert_delay;
	char worker[96];    /* locked_by */
	const char *domain; /* of from: Message-IDs */
};

/* Read the mail settings (config_load() done). 1: mail on; 0: off (smtp_url unset);
 * -1: a setting is wrong (logged; treat as off). */
int mailq_load(struct mailq_cfg *c);
void mailq_free(struct mailq_cfg *c);
/* Why the last mailq_load() returned -1 (static text). */
const char *mailq_problem(void);

/* Send what is due, at most max mails, starting no mail after budget_ms (a slow mail
 * server must not hold up the answers of the loop that calls this). Returns the mails
 * sent, or -1 on a database failure. */
int mailq_run(struct db *db, const struct mailq_cfg *c, int max, int64_t budget_ms);

/* The backoff before try number `attempts` + 1 (seconds). */
int mailq_backoff(int attempts);

#endif
