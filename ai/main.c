/* SPDX-License-Identifier: MIT */
/*
 * chatai-ai: the assistant worker. Claims answer jobs from PostgreSQL and answers them
 * (see ai/answer.h). Any number of workers on any number of hosts share the queue.
 *
 *   chatai-ai [--config FILE] [--once]
 *
 * The loop sleeps in poll(2) on the database socket (LISTEN chatai_jobs) and on a
 * self-pipe written by the signal handler. The only timer is the next lease expiry or
 * waiting timeout (chatai_ai_next_deadline), capped by ai_sweep_interval so that the
 * leases taken by workers on other hosts are watched too. SIGTERM/SIGINT: finish the
 * job in hand, then exit. SIGHUP: read the settings again between two jobs (a bad new
 * file keeps the old settings). --once: process what is ready, then exit.
 *
 * Mail goes out from a thread of its own with its own database link (ai/mailthread.h),
 * so that a mail server that answers slowly or never delays no answer; on SIGTERM a send
 * in progress gives up within about a second. --once sends what is due from the loop.
 */
#include "autoconfig.h"
#include "answer.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "handoff.h"
#include "json.h"
#include "llm.h"
#include "log.h"
#include "mailq.h"
#include "mailthread.h"
#include "queue.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
	char c = (char)sig;
	/* Non-blocking: a full pipe already wakes the loop. */
	ssize_t w = write(sig_pipe[1], &c, 1);
	(void)w;
	errno = saved;
}

static int setup_signals(void)
{
	if (pipe(sig_pipe) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* Full-text search of a question made only of stop words raises a NOTICE: not news. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("database notice: %s", message);
}

/*
 * SIGHUP: read the settings again, from the same file and environment (a new API key,
 * another model or provider). The database link is kept: a worker moves to another
 * database by a restart. Bad new settings are refused and the old ones stay.
 */
/* Mail (ai/mailthread.h): a thread of its own sends it, so that a slow mail server holds
 * up no answer; with --once this loop sends what is due before it exits. */
static struct mailq_cfg once_mail;
static int mail_threaded;

/* Read the mail settings and hand them to the sender. 1: mail is on. */
static int mail_reload(void)
{
	struct mailq_cfg c;
	int on = mailq_load(&c) > 0;
	if (!on)
		mailq_free(&c); /* off */
	if (mail_threaded) {
		mailthread_settings(&c);
	} else {
		mailq_free(&once_mail);
		once_mail = c;
	}
	return on;
}

static void reload(const char *config_file, struct ai_settings *settings)
{
	const char *err = NULL;
	struct ai_settings fresh;
	if (config_load(config_file, &err) < 0) {
		log_error("reload: %s; keeping the previous settings", err ? err : "cannot read the configuration");
		return;
	}
	if (answer_settings_load(&fresh) < 0) {
		answer_settings_free(&fresh);
		log_error("reload: bad settings; keeping the previous ones");
		return;
	}
	answer_settings_free(settings);
	*settings = fresh;
	int mail_on = mail_reload();
	log_info("settings reloaded (provider %s; mail %s)", settings->use_llm ? "openai" : "kb",
	         mail_on ? "on" : "off");
}

/* Wait until fd readable, a signal, or timeout_ms (-1: none). */
static void wait_for(int fd, int64_t timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = sig_pipe[0], .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};
	int timeout = timeout_ms < 0 ? -1 : timeout_ms > 3600000 ? 3600000 : (int)timeout_ms;
	if (poll(p, fd >= 0 ? 2 : 1, timeout) > 0 && (p[0].revents & POLLIN)) {
		char buf[16];
		while (read(sig_pipe[0], buf, sizeof buf) > 0)
			;
	}
}

/* What the worker loop carries from one turn to the next. */
struct worker {
	const char *config_file;
	int once;                 /* --once: process what is ready, then exit */
	struct ai_settings settings;
	int sweep_s;              /* ai_sweep_interval */
	struct db db;
	PGconn *listening;        /* the connection LISTEN was issued on */
	int db_down_logged;       /* "database unavailable" said once per outage */
	int64_t sweep_at;         /* next look at waiting timeouts (monotonic ms) */
	int64_t beat_at;          /* next check-in in ai_workers (monotonic ms) */
};

/* The command line: DAEMON_RUN to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct worker *w)
{
	const struct daemon_opt opts[] = {
		{ "--config", &w->config_file, NULL },
		{ "--once", NULL, &w->once },
		{ NULL, NULL, NULL },
	};
	return daemon_args(argc, argv, opts, "usage: chatai-ai [--config FILE] [--once]");
}

/* Settings, logging, signals and the database handle: 0, or 1 (logged). */
static int worker_start(struct worker *w)
{
	const char *url = daemon_setup("chatai-ai", w->config_file);
	if (!url)
		return 1;
	if (answer_settings_load(&w->settings) < 0)
		return 1;
	int64_t sweep = 0;
	if (settings_int(SET_ai_sweep_interval, &sweep) < 0)
		return 1;
	w->sweep_s = (int)sweep;
	if (setup_signals() < 0) {
		log_error("cannot set up signal handling: %s", strerror(errno));
		return 1;
	}
	llm_global_init();
	db_init(&w->db, url);
	w->db.retry_ms = 1000;
	struct mailq_cfg none = { 0 };
	if (!w->once && mailthread_start(url, &none) < 0)
		return 1;
	mail_threaded = !w->once;
	mail_reload();
	log_info("worker %s started (provider %s%s)", w->settings.worker_id,
	         w->settings.use_llm ? "openai" : "kb", w->once ? ", once" : "");
	return 0;
}

/* Connected and listening: 0; not (waited a second): 1; not, with --once: -1 (logged). */
static int worker_reconnect(struct worker *w)
{
	if (w->db.conn && w->db.conn == w->listening)
		return 0;
	if (db_ensure(&w->db) < 0 || queue_listen(&w->db) < 0) {
		if (w->once) {
			log_error("database unavailable: %s", w->db.errmsg);
			return -1;
		}
		if (!w->db_down_logged)
			log_warn("database unavailable (%s); retrying every second", w->db.errmsg);
		w->db_down_logged = 1;
		w->listening = NULL;
		wait_for(-1, 1000);
		return 1;
	}
	PQsetNoticeProcessor(w->db.conn, on_notice, NULL);
	w->listening = w->db.conn;
	if (w->db_down_logged)
		log_info("database back");
	w->db_down_logged = 0;
	return 0;
}

/* Check in (chatai_ai_heartbeat, sql/005_ai.sql) when it is due: while a worker is alive,
 * chatai.fcgi leaves the jobs to the workers. */
static void worker_beat(struct worker *w)
{
	if (now_ms() < w->beat_at)
		return;
	if (queue_heartbeat(&w->db, w->settings.worker_id) < 0)
		log_debug("heartbeat failed: %s", w->db.errmsg);
	w->beat_at = now_ms() + QUEUE_HEARTBEAT_S * 1000;
}

/* Sleep until a notification, a signal, the next deadline or the next check-in. */
static void worker_sleep(struct worker *w)
{
	int64_t next = INT64_MAX;
	if (queue_next_deadline(&w->db, &next) < 0)
		next = 1000;
	int64_t cap = (int64_t)w->sweep_s * 1000;
	int64_t due = next > cap ? cap : next;
	/* The sweep follows the deadline itself, so that wake-ups by new jobs do not
	 * push it back. */
	w->sweep_at = now_ms() + (due > 0 ? due : 0);
	/* A deadline already past belongs to a job another worker is claiming right now
	 * (or one that is locked): look again soon, but do not spin. */
	int64_t timeout = due < 200 ? 200 : due;
	int64_t beat_in = w->beat_at - now_ms();
	if (timeout > beat_in)
		timeout = beat_in < 50 ? 50 : beat_in;
	/* A notification read while the last claim ran is already in libpq's queue:
	 * poll() would not see it. */
	int pending = queue_drain(&w->db);
	if (pending != 0) {
		if (pending < 0)
			w->listening = NULL;
		return;
	}
	wait_for(PQsocket(w->db.conn), timeout);
}

/* The loop, until a stop signal (or, with --once, until nothing is ready): exit code. */
static int worker_run(struct worker *w)
{
	while (!stop_requested) {
		if (reload_requested) {
			reload_requested = 0;
			reload(w->config_file, &w->settings);
		}
		int rc = worker_reconnect(w);
		if (rc < 0)
			return 1;
		if (rc > 0)
			continue;
		worker_beat(w);
		/* Notifications so far are covered by the claims below. */
		if (queue_drain(&w->db) < 0) {
			w->listening = NULL;
			continue;
		}
		/* Waiting timeouts are announced by no notification: look at them when their
		 * deadline (or the sweep interval) has come, not on every wake-up by a job. */
		if (now_ms() >= w->sweep_at &&
		    queue_release_waiting(&w->db, HANDOFF_RELEASED_TEXT) > 0)
			log_info("gave timed-out waiting dialogs back to the assistant");

		/* Answer until nothing is ready; a SIGHUP takes effect before the next job. */
		struct job j;
		while (!stop_requested && !reload_requested &&
		       queue_claim(&w->db, w->settings.worker_id, w->settings.lease_s, &j) == 1) {
			(void)answer_job(&w->db, &w->settings, &j);
			worker_beat(w);
		}
		if (reload_requested && !stop_requested)
			continue;
		if (w->once && once_mail.smtp_url && mailq_run(&w->db, &once_mail, 50, 5000) < 0)
			log_warn("mail: database: %s", w->db.errmsg);
		if (w->once || stop_requested)
			break;
		worker_sleep(w);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct worker w = { 0 };
	int rc = parse_args(argc, argv, &w);
	if (rc != DAEMON_RUN)
		return rc;
	if (worker_start(&w) != 0)
		return 1;
	int exit_code = worker_run(&w);

	log_info("worker %s stopping", w.settings.worker_id);
	mailthread_stop(); /* a send in progress gives up within about a second */
	/* Leave at once: chatai.fcgi takes over the jobs without waiting for the check-in
	 * to age. */
	if (w.db.conn && queue_goodbye(&w.db, w.settings.worker_id) < 0)
		log_debug("goodbye failed: %s", w.db.errmsg);
	db_close(&w.db);
	answer_settings_free(&w.settings);
	mailq_free(&once_mail);
	llm_global_cleanup();
	config_free();
	return exit_code;
}
