/* SPDX-License-Identifier: MIT */
/* inlineai: a request answers the assistant's jobs when no worker is alive (inlineai.h). */
#include "autoconfig.h"
#include "inlineai.h"
#include "answer.h"
#include "handoff.h"
#include "llm.h"
#include "config.h"
#include "settings.h"
#include "log.h"
#include "mailq.h"
#include "pollmode.h"
#include "queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ai_settings settings;
static int settings_ok;       /* the ai_* settings were read (answer previews use them) */
static int enabled;
static int mode_on;           /* fcgi_inline_ai = on (else auto) */
static __thread int noted;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int running;           /* a request of this process is answering jobs */
static uint64_t posts;        /* visitor posts seen while running: look again */
static int64_t alive_until;   /* a worker was seen alive: trust it until then (ms) */
static struct mailq_cfg mail;  /* the worker's other duty when none is alive: mail */
/* Due mails (a reply unseen for mail_reply_delay) have no request of their own: any
 * request of a lasting process looks at the outbox at most every INLINE_MAIL_MS. A plain
 * CGI process never lives that long; its mails go with visitor posts and transcripts. */
#define INLINE_MAIL_MS 30000
static int64_t mail_next;      /* monotonic ms */

void inlineai_init(void)
{
	/* Read whatever fcgi_inline_ai says: an answer preview takes the worker's path. */
	if (answer_settings_load(&settings) < 0) {
		log_warn("chatai.fcgi: bad ai_* settings: answers are left to chatai-ai, previews use the"
			 " knowledge base");
		answer_settings_free(&settings);
		enabled = 0;
		return;
	}
	settings_ok = 1;
	if (settings.use_llm)
		llm_global_init();
	const char *m = settings_str(SET_fcgi_inline_ai);
	if (strcmp(m, "off") == 0)
		return;
	if (strcmp(m, "on") == 0) {
		mode_on = 1;
	} else if (strcmp(m, "auto") != 0) {
		log_error("setting fcgi_inline_ai = %s: expected auto, on or off (using auto)", m);
	}
	/* Its own name in answer_jobs.locked_by, even when ai_worker_id is set for the
	 * worker: a claim is held by exactly one claimant. */
	char host[256];
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	free(settings.worker_id);
	settings.worker_id = xasprintf("%s:%ld:fcgi", host, (long)getpid());
	if (mailq_load(&mail) <= 0)
		mailq_free(&mail); /* off */
	mail_next = now_ms() + INLINE_MAIL_MS;
	if (mail.smtp_url && !settings.use_llm)
		llm_global_init(); /* curl_global_init for SMTP (the LLM's was above) */
	enabled = 1;
}

const struct ai_settings *inlineai_settings(void)
{
	return settings_ok ? &settings : NULL;
}

void inlineai_note_post(void)
{
	noted = 1;
	pthread_mutex_lock(&mu);
	posts++;
	pthread_mutex_unlock(&mu);
}

/* 1 when this process should look at the outbox now (and not again for a while). */
static int mail_due(void)
{
	if (!mail.smtp_url)
		return 0;
	pthread_mutex_lock(&mu);
	int due = now_ms() >= mail_next;
	if (due)
		mail_next = now_ms() + INLINE_MAIL_MS;
	pthread_mutex_unlock(&mu);
	return due;
}

int inlineai_take(struct req *r)
{
	int n = noted || mail_due();
	noted = 0;
	return n && enabled && (mode_on || pollmode_short(r));
}

int inlineai_needed(struct db *db)
{
	if (!enabled)
		return 0;
	pthread_mutex_lock(&mu);
	int trust = now_ms() < alive_until;
	pthread_mutex_unlock(&mu);
	if (trust)
		return 0;
	int alive = queue_worker_alive(db, QUEUE_ALIVE_S);
	if (alive < 0) {
		log_debug("inline answers: cannot tell whether a worker is alive: %s", db->errmsg);
		return 0;
	}
	if (alive) {
		/* Ask again in a second: a worker that stops says goodbye. */
		pthread_mutex_lock(&mu);
		alive_until = now_ms() + 1000;
		pthread_mutex_unlock(&mu);
		return 0;
	}
	return 1;
}

void inlineai_run(struct db *db)
{
	/* In the worker's place: settings.worker_id was moved to a per-process name after
	 * the settings were read, and this process's requests share it (one at a time). */
	pthread_mutex_lock(&mu);
	if (running) {
		pthread_mutex_unlock(&mu);
		return; /* the running one looks again for this request's job (posts) */
	}
	running = 1;
	uint64_t seen = posts;
	pthread_mutex_unlock(&mu);

	int64_t until = now_ms() + 10000;
	int answered = 0;
	for (;;) {
		struct job j;
		while (now_ms() < until && queue_claim(db, settings.worker_id, settings.lease_s, &j) == 1) {
			(void)answer_job(db, &settings, &j);
			answered++;
		}
		pthread_mutex_lock(&mu);
		if (posts == seen || now_ms() >= until) {
			running = 0;
			pthread_mutex_unlock(&mu);
			break;
		}
		seen = posts;
		pthread_mutex_unlock(&mu);
	}
	/* The workers' other duty: dialogs left waiting too long go back to the assistant. */
	if (queue_release_waiting(db, HANDOFF_RELEASED_TEXT) > 0)
		log_info("gave timed-out waiting dialogs back to the assistant");
	if (mail.smtp_url && mailq_run(db, &mail, 5, 5000) < 0)
		log_warn("inline mail: database: %s", db->errmsg);
	if (answered)
		log_debug("inline answers: %d job(s) answered by this request (no chatai-ai alive)", answered);
}
