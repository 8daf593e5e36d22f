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
#include "pollmode.h"
#include "queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ai_settings settings;
static int enabled;
static int mode_on;           /* fcgi_inline_ai = on (else auto) */
static __thread int noted;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int running;           /* a request of this process is answering jobs */
static uint64_t posts;        /* visitor posts seen while running: look again */
static int64_t alive_until;   /* a worker was seen alive: trust it until then (ms) */

void inlineai_init(void)
{
	const char *m = settings_str(SET_fcgi_inline_ai);
	if (strcmp(m, "off") == 0)
		return;
	if (strcmp(m, "on") == 0) {
		mode_on = 1;
	} else if (strcmp(m, "auto") != 0) {
		log_error("setting fcgi_inline_ai = %s: expected auto, on or off (using auto)", m);
	}
	if (answer_settings_load(&settings) < 0) {
		log_warn("chatai.fcgi: bad ai_* settings: answers are left to chatai-ai");
		answer_settings_free(&settings);
		enabled = 0;
		return;
	}
	/* Its own name in answer_jobs.locked_by, even when ai_worker_id is set for the
	 * worker: a claim is held by exactly one claimant. */
	char host[256];
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	free(settings.worker_id);
	settings.worker_id = xasprintf("%s:%ld:fcgi", host, (long)getpid());
	if (settings.use_llm)
		llm_global_init();
	enabled = 1;
}

void inlineai_note_post(void)
{
	noted = 1;
	pthread_mutex_lock(&mu);
	posts++;
	pthread_mutex_unlock(&mu);
}

int inlineai_take(struct req *r)
{
	int n = noted;
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
	if (answered)
		log_debug("inline answers: %d job(s) answered by this request (no chatai-ai alive)", answered);
}
