/* SPDX-License-Identifier: MIT */
/* mailthread: chatai-ai's mail sender thread (see mailthread.h). */
#include "autoconfig.h"
#include "mailthread.h"
#include "db.h"
#include "log.h"
#include "mailsend.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_t thread;
static int started;
static atomic_int stopping;
static int wake[2] = { -1, -1 };   /* written by mailthread_stop and _settings */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct mailq_cfg fresh;     /* under mu: settings not yet taken by the thread */
static int have_fresh;             /* under mu */
static char *db_url;

static void poke(void)
{
	char c = 1;
	ssize_t w = write(wake[1], &c, 1); /* non-blocking: a full pipe wakes the thread too */
	(void)w;
}

/* The settings the main thread left, if any, replace *cfg. */
static void adopt(struct mailq_cfg *cfg)
{
	pthread_mutex_lock(&mu);
	if (have_fresh) {
		mailq_free(cfg);
		*cfg = fresh;
		memset(&fresh, 0, sizeof fresh);
		have_fresh = 0;
	}
	pthread_mutex_unlock(&mu);
}

static void *run(void *arg)
{
	struct mailq_cfg cfg = { 0 };
	struct db db;
	int down_logged = 0;
	(void)arg;
	db_init(&db, db_url);
	db.retry_ms = 1000;
	while (!atomic_load(&stopping)) {
		adopt(&cfg);
		if (cfg.smtp_url && db_ensure(&db) < 0) {
			if (!down_logged)
				log_warn("mail: database unavailable (%s)", db.errmsg);
			down_logged = 1;
		} else if (cfg.smtp_url) {
			down_logged = 0;
			if (mailq_run(&db, &cfg, 50, 5000) < 0)
				log_warn("mail: database: %s", db.errmsg);
		}
		struct pollfd p = { .fd = wake[0], .events = POLLIN };
		if (!atomic_load(&stopping) && poll(&p, 1, MAILTHREAD_TICK_MS) > 0) {
			char buf[16];
			while (read(wake[0], buf, sizeof buf) > 0)
				;
		}
	}
	db_close(&db);
	mailq_free(&cfg);
	return NULL;
}

int mailthread_start(const char *url, struct mailq_cfg *cfg)
{
	if (pipe(wake) < 0) {
		log_error("mail: cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(wake[i], F_SETFL, fcntl(wake[i], F_GETFL) | O_NONBLOCK);
		fcntl(wake[i], F_SETFD, FD_CLOEXEC);
	}
	db_url = xstrdup(url);
	mail_send_abort_flag(&stopping);
	mailthread_settings(cfg);
	/* Signals go to the main thread's handler: the new thread starts with them blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&thread, NULL, run, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("mail: cannot start the sending thread: %s", strerror(rc));
		return -1;
	}
	started = 1;
	return 0;
}

void mailthread_settings(struct mailq_cfg *cfg)
{
	pthread_mutex_lock(&mu);
	mailq_free(&fresh);
	fresh = *cfg;
	memset(cfg, 0, sizeof *cfg);
	have_fresh = 1;
	pthread_mutex_unlock(&mu);
	if (wake[1] >= 0)
		poke();
}

void mailthread_stop(void)
{
	if (!started)
		return;
	atomic_store(&stopping, 1);
	poke();
	pthread_join(thread, NULL);
	started = 0;
	mailq_free(&fresh);
	free(db_url);
	db_url = NULL;
	close(wake[0]);
	close(wake[1]);
	wake[0] = wake[1] = -1;
}
