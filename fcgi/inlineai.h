/* SPDX-License-Identifier: MIT */
/*
 * inlineai: answers with no daemon and no cron.
 *
 * A visitor's message to a dialog of the assistant makes an answer job (answer_jobs),
 * which a chatai-ai worker claims. On a host that runs no daemon there is none: then the
 * request that stored the message answers the job itself, AFTER its own response has
 * gone out (FastCGI: the request is finished first; CGI: stdout is closed and the work
 * goes on in a detached child, out of reach of the web server's clean-up kill). It uses
 * the worker's own code (ai/libchataiai.a: queue_claim, answer_job), so the lease, the
 * retries and the exactly-once finish are the worker's.
 *
 * "No worker" means no row of ai_workers (sql/001_tables.sql) newer than
 * QUEUE_ALIVE_S seconds; a worker checks in every QUEUE_HEARTBEAT_S seconds and deletes
 * its row when it stops. An answer is computed by one request per process at a time.
 *
 * The same requests send the mail that is due when smtp_url is set (ai/mailq.h): after a
 * visitor's message or transcript request, and, in a process that lives on (FastCGI,
 * mod_fcgid), after any request at most every 30 s, for the reply mails whose delay ran
 * out while nobody wrote.
 *
 * Setting fcgi_inline_ai: auto (default) does this where a process serves one request
 * at a time (where fcgi_poll_mode comes out short: plain CGI, mod_fcgid: the shared
 * hosts, see pollmode.h); on does it however chatai.fcgi runs; off never.
 */
#ifndef CHATAI_FCGI_INLINEAI_H
#define CHATAI_FCGI_INLINEAI_H

#include "db.h"

struct req;

/* Read the ai_* settings (config_load() done). Logs and turns itself off on bad ones. */
void inlineai_init(void);

struct ai_settings;
/* The ai_* settings as chatai-ai reads them (read whatever fcgi_inline_ai says), for
 * answer previews; NULL when they are bad. */
const struct ai_settings *inlineai_settings(void);

/* The request being served stored a visitor message (this thread). */
void inlineai_note_post(void);
/* Did request r (served on this thread) store one (or is a look at the mail outbox due,
 * at most every 30 s in a lasting process), and may it answer jobs here? Clears the note. */
int inlineai_take(struct req *r);

/* 1 when jobs should be answered here: no worker alive (and this is on). 0 otherwise
 * (or on a database failure). */
int inlineai_needed(struct db *db);

/* Claim and answer the ready jobs, for at most a few seconds. */
void inlineai_run(struct db *db);

#endif
