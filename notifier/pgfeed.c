/* SPDX-License-Identifier: MIT */
/* pgfeed: LISTEN link and query link to PostgreSQL on the loop (see pgfeed.h). */
#include "autoconfig.h"
#include "pgfeed.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "util.h"

enum link_state {
	LINK_DOWN = 0,   /* waiting for the retry timer */
	LINK_CONNECTING, /* PQconnectPoll in progress */
	LINK_SETUP,      /* LISTEN sent, waiting for its result (listen link) */
	LINK_READY,      /* listening (listen link) / taking jobs (query link) */
};

struct job {
	const char *sql;
	int n;
	char *params[4];
	int flags;
	pgfeed_result_cb cb;
	void *arg;
	struct job *next;
};

struct link {
	const char *name;
	int is_listen;
	PGconn *pg;
	enum link_state state;
	int inflight;        /* query link: jobs sent, results not yet read (head of the queue) */
	PGresult *pending;   /* query link: first result of the head job, until its NULL */
	int failed_once;     /* went down at least once since the last success */
	int ever_up;
	int backoff_ms;
	int flushing;        /* PQflush said more to send */
	struct loop_io io;
	struct loop_timer retry;
};

static struct link lk_listen = { .name = "listen", .is_listen = 1 };
static struct link lk_query = { .name = "query" };
static char *db_url;
static pgfeed_notify_cb notify_cb;
static pgfeed_up_cb up_cb;
static struct job *q_head, *q_tail;
static size_t q_len;
static uint64_t n_reconnects;
static int stopping;

static void link_connect(struct link *l);
static void link_io_cb(void *data, int events);
static void query_kick(void);

size_t pgfeed_queue_len(void) { return q_len; }
int pgfeed_listen_up(void) { return lk_listen.state == LINK_READY; }
int pgfeed_query_up(void) { return lk_query.state == LINK_READY; }
uint64_t pgfeed_reconnects(void) { return n_reconnects; }

static void job_free(struct job *j)
{
	for (int i = 0; i < j->n; i++)
		free(j->params[i]);
	free(j);
}

static struct job *job_pop(void)
{
	struct job *j = q_head;
	if (j) {
		q_head = j->next;
		if (!q_head)
			q_tail = NULL;
		q_len--;
	}
	return j;
}

/* Fail every queued job that does not survive a lost link (none is in flight). */
static void fail_fragile_jobs(void)
{
	struct job *keep = NULL, *keep_tail = NULL, *fail = NULL, *fail_tail = NULL;
	struct job *j;
	while ((j = job_pop())) {
		j->next = NULL;
		if (j->flags & PGJOB_RETRY) {
			if (keep_tail) keep_tail->next = j; else keep = j;
			keep_tail = j;
		} else {
			if (fail_tail) fail_tail->next = j; else fail = j;
			fail_tail = j;
		}
	}
	q_head = keep;
	q_tail = keep_tail;
	for (j = keep; j; j = j->next)
		q_len++;
	while (fail) {
		j = fail;
		fail = j->next;
		j->cb(j->arg, NULL);
		job_free(j);
	}
}

static void link_down(struct link *l, const char *why)
{
	if (l->pg) {
		/* libpq's messages span lines: keep the log one line per event. */
		char msg[300];
		size_t n = 0;
		for (const char *p = why; *p && n + 1 < sizeof(msg); p++)
			if (*p != '\n' && *p != '\t')
				msg[n++] = *p;
			else if (n && msg[n - 1] != ' ')
				msg[n++] = ' ';
		while (n && msg[n - 1] == ' ')
			n--;
		msg[n] = '\0';
		log_warn("pgfeed: %s link lost: %s", l->name, msg);
		PQfinish(l->pg);
		l->pg = NULL;
	}
	loop_io_stop(&l->io);
	l->state = LINK_DOWN;
	l->inflight = 0;
	if (l->pending) {
		PQclear(l->pending);
		l->pending = NULL;
	}
	l->flushing = 0;
	l->failed_once = 1;
	if (stopping)
		return;
	if (!l->is_listen)
		fail_fragile_jobs();
	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : 100;
	if (l->backoff_ms > 5000)
		l->backoff_ms = 5000;
	loop_timer_again(&l->retry, l->backoff_ms / 1000.0);
}

static void retry_cb(void *data)
{
	struct link *l = data;
	loop_timer_stop(&l->retry);
	n_reconnects++;
	link_connect(l);
}

static void link_watch(struct link *l, int events)
{
	int fd = PQsocket(l->pg);
	if (fd < 0) {
		link_down(l, "no socket");
		return;
	}
	loop_io_set(&l->io, fd, events);
	loop_io_start(&l->io);
}

static void link_connect(struct link *l)
{
	l->pg = PQconnectStart(db_url);
	if (!l->pg || PQstatus(l->pg) == CONNECTION_BAD) {
		link_down(l, l->pg ? PQerrorMessage(l->pg) : "out of memory");
		return;
	}
	l->state = LINK_CONNECTING;
	link_watch(l, LOOP_WRITE);
}

static void link_ready(struct link *l)
{
	PQsetnonblocking(l->pg, 1);
	l->backoff_ms = 0;
	if (l->is_listen) {
		if (!PQsendQuery(l->pg, "LISTEN chatai")) {
			link_down(l, PQerrorMessage(l->pg));
			return;
		}
		l->state = LINK_SETUP;
		if (PQflush(l->pg) == 1)
			link_watch(l, LOOP_READ | LOOP_WRITE);
		else
			link_watch(l, LOOP_READ);
		return;
	}
	if (!PQenterPipelineMode(l->pg)) {
		link_down(l, "cannot enter pipeline mode");
		return;
	}
	l->state = LINK_READY;
	l->failed_once = 0;
	log_info("pgfeed: query link up (pipeline mode)");
	link_watch(l, LOOP_READ);
	query_kick();
}

static void connect_poll(struct link *l)
{
	switch (PQconnectPoll(l->pg)) {
	case PGRES_POLLING_READING:
		link_watch(l, LOOP_READ);
		break;
	case PGRES_POLLING_WRITING:
		link_watch(l, LOOP_WRITE);
		break;
	case PGRES_POLLING_OK:
		link_ready(l);
		break;
	default:
		link_down(l, PQerrorMessage(l->pg));
		break;
	}
}

static void listen_read(struct link *l)
{
	int64_t t = now_us();
	if (!PQconsumeInput(l->pg)) {
		link_down(l, PQerrorMessage(l->pg));
		return;
	}
	if (l->state == LINK_SETUP) {
		while (!PQisBusy(l->pg)) {
			PGresult *r = PQgetResult(l->pg);
			if (!r) {
				int first = !l->ever_up;
				l->state = LINK_READY;
				l->ever_up = 1;
				l->failed_once = 0;
				log_info("pgfeed: listening on channel chatai");
				if (up_cb)
					up_cb(first);
				break;
			}
			int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
			if (!ok) {
				link_down(l, "LISTEN failed");
				return;
			}
		}
	}
	PGnotify *n;
	while ((n = PQnotifies(l->pg))) {
		if (notify_cb && strcmp(n->relname, "chatai") == 0)
			notify_cb(n->extra, strlen(n->extra), t);
		PQfreemem(n);
	}
}

/*
 * The query link runs in libpq's pipeline mode: up to PIPELINE_MAX jobs are sent ahead,
 * each followed by a sync point (so an error in one aborts only that one), and results
 * come back in order. The in-flight jobs are the first `inflight` of the queue.
 */
#define PIPELINE_MAX 64

static struct job *nth_job(int n)
{
	struct job *j = q_head;
	while (j && n--)
		j = j->next;
	return j;
}

static void query_kick(void)
{
	struct link *l = &lk_query;
	if (l->state != LINK_READY)
		return;
	int sent = 0;
	for (struct job *j = nth_job(l->inflight); j && l->inflight < PIPELINE_MAX; j = j->next) {
		if (!PQsendQueryParams(l->pg, j->sql, j->n, NULL, (const char *const *)j->params, NULL, NULL, 0) ||
		    !PQpipelineSync(l->pg)) {
			link_down(l, PQerrorMessage(l->pg));
			return;
		}
		l->inflight++;
		sent = 1;
	}
	if (!sent)
		return;
	int f = PQflush(l->pg);
	if (f < 0) {
		link_down(l, PQerrorMessage(l->pg));
		return;
	}
	l->flushing = f == 1;
	link_watch(l, LOOP_READ | (l->flushing ? LOOP_WRITE : 0));
}

static void job_finish(struct link *l, PGresult *res)
{
	struct job *j = job_pop();
	l->inflight--;
	if (res && PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warn("pgfeed: query failed: %s", PQresultErrorMessage(res));
	j->cb(j->arg, res);
	PQclear(res);
	job_free(j);
}

static void query_read(struct link *l)
{
	if (!PQconsumeInput(l->pg)) {
		link_down(l, PQerrorMessage(l->pg));
		return;
	}
	PGnotify *n;
	while ((n = PQnotifies(l->pg)))
		PQfreemem(n);
	/* Per job: one or more results, then NULL; then the sync point's result. */
	while (l->inflight > 0 && !PQisBusy(l->pg)) {
		PGresult *r = PQgetResult(l->pg);
		if (!r) {
			if (!l->pending)
				break; /* nothing more ready */
			PGresult *res = l->pending;
			l->pending = NULL;
			job_finish(l, res);
			continue;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			continue;
		}
		if (!l->pending)
			l->pending = r; /* a PGRES_PIPELINE_ABORTED one reaches the callback as an error */
		else
			PQclear(r);
	}
	if (PQstatus(l->pg) == CONNECTION_BAD) {
		link_down(l, PQerrorMessage(l->pg));
		return;
	}
	query_kick();
}

static void link_io_cb(void *data, int events)
{
	struct link *l = data;
	if (!l->pg)
		return;
	if (l->state == LINK_CONNECTING) {
		connect_poll(l);
		return;
	}
	if (events & LOOP_WRITE) {
		int f = PQflush(l->pg);
		if (f < 0) {
			link_down(l, PQerrorMessage(l->pg));
			return;
		}
		if (f == 0)
			link_watch(l, LOOP_READ);
	}
	if (events & LOOP_READ) {
		if (l->is_listen)
			listen_read(l);
		else
			query_read(l);
	}
}

static void prepare_hook(void)
{
	/* Jobs queued while the query link is known down fail here, from the loop. */
	if (lk_query.state != LINK_READY && lk_query.failed_once && q_head)
		fail_fragile_jobs();
	query_kick();
}

static void link_init(struct link *l)
{
	loop_io_init(&l->io, -1, LOOP_READ, link_io_cb, l);
	loop_timer_init(&l->retry, retry_cb, l);
}

void pgfeed_start(const char *url, pgfeed_notify_cb on_notify, pgfeed_up_cb listen_up)
{
	db_url = xstrdup(url);
	notify_cb = on_notify;
	up_cb = listen_up;
	link_init(&lk_listen);
	link_init(&lk_query);
	loop_on_prepare(prepare_hook);
	link_connect(&lk_listen);
	link_connect(&lk_query);
}

void pgfeed_set_url(const char *url)
{
	free(db_url);
	db_url = xstrdup(url);
}

void pgfeed_query(const char *sql, int n, const char *const *params, int flags, pgfeed_result_cb cb, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->sql = sql;
	j->n = n > 4 ? 4 : n;
	for (int i = 0; i < j->n; i++)
		j->params[i] = params[i] ? xstrdup(params[i]) : NULL;
	j->flags = flags;
	j->cb = cb;
	j->arg = arg;
	if (q_tail)
		q_tail->next = j;
	else
		q_head = j;
	q_tail = j;
	q_len++;
}

void pgfeed_stop(void)
{
	stopping = 1;
	struct link *ls[2] = { &lk_listen, &lk_query };
	for (int i = 0; i < 2; i++) {
		loop_timer_stop(&ls[i]->retry);
		loop_io_stop(&ls[i]->io);
		if (ls[i]->pg)
			PQfinish(ls[i]->pg);
		ls[i]->pg = NULL;
		ls[i]->state = LINK_DOWN;
	}
	struct job *j;
	while ((j = job_pop())) {
		j->cb(j->arg, NULL);
		job_free(j);
	}
	free(db_url);
	db_url = NULL;
}
