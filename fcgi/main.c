/* SPDX-License-Identifier: MIT */
/*
 * chatai.fcgi: the REST and long-poll workers.
 *
 *   chatai.fcgi [--config FILE] [--listen HOST:PORT|PATH] [--threads N]
 *
 * Three ways to run, one binary:
 *  - started by the web server with a FastCGI socket on stdin (lighttpd bin-path,
 *    mod_fcgid, spawn-fcgi): N threads accept on the inherited socket;
 *  - --listen (or setting fcgi_listen): opens its own socket, for servers that connect
 *    to an external pool (lighttpd host/port, mod_proxy_fcgi);
 *  - plain CGI when stdin is not a FastCGI socket: one request, then exit.
 * The threads take turns accepting, leader/followers style, and borrow a database link
 * from the process's pool (dbpool.h: fcgi_db_pool links, fewer than the threads) for
 * each request. Long-polls park with the hub (longpoll.h) and free their thread and
 * their link at once.
 *
 * SIGTERM or SIGINT (lighttpd's, mod_fcgid's, systemd's stop): one thread waits for them
 * with sigwait(); it stops the accepting, lets the requests in flight finish, answers
 * every parked long-poll with what there is (the client polls again, elsewhere), and the
 * process exits within 2 s.
 */
#include "autoconfig.h"
#include "authcache.h"
#include "config.h"
#include "daemon.h"
#include "dbpool.h"
#include "json.h"
#include "log.h"
#include "inlineai.h"
#include "longpoll.h"
#include "pipeline.h"
#include "pollmode.h"
#include "postbatch.h"
#include "ratelimit.h"
#include "request.h"
#include "router.h"
#include "appcfg.h"
#include "settings.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd = 0;
static const char *db_url;

/*
 * Leader/followers: one thread at a time waits in accept (the leader); when it gets a
 * request it hands leadership to the thread that went idle LAST, and serves. So the
 * same few threads take turns while the load is light (a plain mutex would rotate
 * through every thread). The leader accepts only while fewer requests than the pool's
 * links are in flight; under load, when it waits for a place, the thread that finishes
 * a request accepts the next one itself (take_over_accept).
 */
struct follower {
	pthread_cond_t cv;
	int woken;          /* leadership was handed to this thread */
};
static pthread_mutex_t lf_mu = PTHREAD_MUTEX_INITIALIZER;
static struct follower **lf_stack; /* idle threads, the most recent on top */
static int lf_top;
static int lf_leader;              /* a thread leads: waits for a place in flight, or accepts */
static pthread_t lf_leader_tid;
static int lf_in_accept;           /* lf_leader_tid is in (or entering) accept() */
static int lf_taken_over;          /* a thread that just finished accepts (take_over_accept) */
static int stopping;               /* under lf_mu: SIGTERM or SIGINT arrived */
static int in_flight;              /* under lf_mu: requests being served */
static int max_in_flight = 1;      /* the pool's size: the leader accepts only below it */
static pthread_cond_t slot_cv = PTHREAD_COND_INITIALIZER;

/* 0 when this thread is the leader now, -1 when the process is stopping. */
static int lf_become_leader(struct follower *me)
{
	pthread_mutex_lock(&lf_mu);
	if (lf_leader && !stopping) {
		me->woken = 0;
		lf_stack[lf_top++] = me;
		while (!me->woken && !stopping)
			pthread_cond_wait(&me->cv, &lf_mu);
	} else if (!stopping) {
		lf_leader = 1;
	}
	if (stopping) {
		/* Leave the idle stack: this thread (and its cv) is about to end. */
		for (int i = 0; i < lf_top; i++)
			if (lf_stack[i] == me) {
				memmove(&lf_stack[i], &lf_stack[i + 1], (size_t)(lf_top - i - 1) * sizeof *lf_stack);
				lf_top--;
				break;
			}
		pthread_mutex_unlock(&lf_mu);
		return -1;
	}
	pthread_mutex_unlock(&lf_mu);
	return 0;
}

static void lf_hand_over(int accepted)
{
	pthread_mutex_lock(&lf_mu);
	lf_in_accept = 0;
	in_flight += accepted;
	if (lf_top > 0) {
		struct follower *f = lf_stack[--lf_top];
		f->woken = 1;
		pthread_cond_signal(&f->cv);
	} else {
		lf_leader = 0;
	}
	pthread_mutex_unlock(&lf_mu);
}

static FCGX_Request *request_new(void)
{
	FCGX_Request *r = xcalloc(1, sizeof *r);
	if (FCGX_InitRequest(r, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_error("FCGX_InitRequest failed");
		abort();
	}
	return r;
}

/*
 * CGI: the answer is complete; let the web server have it (EOF on stdout ends the
 * response). SIGTERM is held from now on: Apache's mod_cgi and mod_cgid send it when the
 * request ends, and cgi_fork() leaves it behind.
 */
static void cgi_close_output(void)
{
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigprocmask(SIG_BLOCK, &term, NULL);
	fflush(stdout);
	int null = open("/dev/null", O_RDWR);
	if (null < 0) {
		close(STDOUT_FILENO);
		return;
	}
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	struct stat st;
	if (fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode))
		dup2(null, STDERR_FILENO); /* mod_cgi's stderr pipe; mod_cgid's is the log file */
	if (null > STDERR_FILENO)
		close(null);
}

/* CGI: go on in a child of our own, out of reach of the server's clean-up kill. 0 in the
 * child; the parent exits here (leaving the database link to the child untouched); -1
 * when there is no child. */
static int cgi_fork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	setsid();
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	return 0;
}

static void serve(struct transport *c, int *parked)
{
	struct req r;
	struct db *db = dbpool_get();
	req_init(&r, c, db);
	*parked = 0;
	if (!db) {
		http_header(&r, "Retry-After", "1");
		http_error(&r, 503, "unavailable", "the server is busy, try again shortly", NULL);
	} else {
		*parked = pipeline_handle(&r) == ROUTE_PARKED;
	}
	if (!*parked)
		http_send(&r);
	/* The request may have given its link back meanwhile, or taken another
	 * (postbatch.h): what it holds now goes back to the pool. */
	db = r.db;
	int jobs = !*parked && inlineai_take(&r) && db;
	req_free(&r);
	if (jobs) {
		/* A visitor's message was stored: with no chatai-ai alive, its answer is this
		 * request's job, once the visitor has the response (inlineai.h). */
		if (c->fcgx)
			FCGX_Finish_r(c->fcgx);
		else
			cgi_close_output();
		if (inlineai_needed(db) && (c->fcgx || cgi_fork() == 0))
			inlineai_run(db);
	}
	dbpool_put(db);
}

/*
 * accept() on the listening socket ourselves rather than in FCGX_Accept_r(): for a Unix
 * socket (lighttpd's bin-path, spawn-fcgi) libfcgi's accept then waits up to 2 s in
 * select() for the web server's first bytes, holding up every accept of the process
 * behind a web server that is busy for a moment (a p99 of hundreds of ms at 10,000
 * req/s). Here the leader hands over as soon as it has a link, and the thread that
 * serves it reads the request. FCGI_WEB_SERVER_ADDRS, when set, still goes through
 * libfcgi's accept, which checks the peer. -1 (errno set) on failure or EINTR.
 */
static int web_server_addrs_set;

static int accept_one(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof ss;
			if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
			    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
				int one = 1;
				(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			}
			return fd;
		}
		if (errno == ECONNABORTED || errno == EPROTO || errno == ECONNRESET)
			continue;
		return -1;
	}
}

/* postbatch.h: a request waiting for its batch gives back its place in flight. */
static void slot_release(void)
{
	pthread_mutex_lock(&lf_mu);
	in_flight--;
	pthread_cond_signal(&slot_cv);
	pthread_mutex_unlock(&lf_mu);
}

static void slot_take(void)
{
	pthread_mutex_lock(&lf_mu);
	in_flight++;
	pthread_mutex_unlock(&lf_mu);
}

/*
 * Under load the leader waits for a place in flight (below). A thread that finishes a
 * request then keeps its place and accepts the next request itself, when nobody is in
 * accept(): no leader to wake, no follower to promote, two thread switches fewer per
 * request. 1 when this thread is to accept now (as lf_leader_tid).
 */
static int take_over_accept(void)
{
	pthread_mutex_lock(&lf_mu);
	/* in_flight == max: giving this place back would let the leader accept exactly one
	 * (above max, after posts took theirs back (postbatch.h), it would not). */
	int take = !stopping && !web_server_addrs_set && lf_leader && !lf_in_accept && !lf_taken_over &&
		   in_flight == max_in_flight;
	if (take) {
		lf_taken_over = 1;
		lf_leader_tid = pthread_self();
		lf_in_accept = 1;
	}
	pthread_mutex_unlock(&lf_mu);
	return take;
}

static void *worker_main(void *arg)
{
	(void)arg;
	struct follower me;
	pthread_cond_init(&me.cv, NULL);
	me.woken = 0;
	struct transport *c = xcalloc(1, sizeof *c);
	c->fcgx = request_new();
	int errors = 0;
	for (;;) {
		/* Finish the previous request before queueing (a plain close: request.h). */
		fcgx_finish_now(c->fcgx);
		if (lf_become_leader(&me) < 0)
			break;
		/* Accept only what the database links can serve now: the rest waits in the
		 * kernel's queue (first come, first served) or goes to a sibling process,
		 * instead of queueing here for a link, where the last to come may be first. */
		pthread_mutex_lock(&lf_mu);
		while ((in_flight >= max_in_flight || lf_taken_over) && !stopping)
			pthread_cond_wait(&slot_cv, &lf_mu);
		lf_leader_tid = pthread_self();
		lf_in_accept = 1;
		pthread_mutex_unlock(&lf_mu);
		int rc = -1, fd = -1;
		if (web_server_addrs_set) {
			rc = FCGX_Accept_r(c->fcgx);
			lf_hand_over(rc >= 0);
		} else {
			fd = accept_one();
			lf_hand_over(fd >= 0);
		}
	accepted:
		if (fd >= 0) {
			/* libfcgi reads the request from the link we accepted (ipcFd set, kept). */
			c->fcgx->ipcFd = fd;
			c->fcgx->keepConnection = 1;
			rc = FCGX_Accept_r(c->fcgx);
			if (rc < 0) {
				pthread_mutex_lock(&lf_mu);
				in_flight--;
				pthread_cond_signal(&slot_cv);
				pthread_mutex_unlock(&lf_mu);
			}
		}
		if (rc < 0) {
			pthread_mutex_lock(&lf_mu);
			int st = stopping;
			pthread_mutex_unlock(&lf_mu);
			if (st)
				break;
			if (++errors > 100) {
				log_error("accept keeps failing (%d): thread stops", rc);
				break;
			}
			usleep(10000);
			continue;
		}
		errors = 0;
		int parked = 0;
		serve(c, &parked);
		if (parked) {
			/* The hub owns that request now; take a fresh one. */
			c = xcalloc(1, sizeof *c);
			c->fcgx = request_new();
		}
		fcgx_finish_now(c->fcgx); /* (the loop's start finds nothing more to do) */
		if (take_over_accept()) {
			fd = accept_one();
			pthread_mutex_lock(&lf_mu);
			lf_in_accept = 0;
			lf_taken_over = 0;
			if (fd < 0)
				in_flight--;
			if (in_flight < max_in_flight || stopping) /* a place came free meanwhile */
				pthread_cond_signal(&slot_cv);
			pthread_mutex_unlock(&lf_mu);
			rc = -1;
			goto accepted;
		}
		pthread_mutex_lock(&lf_mu);
		in_flight--;
		pthread_cond_signal(&slot_cv);
		pthread_mutex_unlock(&lf_mu);
	}
	FCGX_Finish_r(c->fcgx);
	free(c->fcgx);
	free(c);
	pthread_cond_destroy(&me.cv);
	return NULL;
}

static void on_wake(int sig)
{
	(void)sig; /* only interrupts accept() */
}

/* The stop: sigwait() for SIGTERM/SIGINT, then wind down within 2 s. */
static void *stopper_main(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	while (sigwait(set, &sig) != 0)
		;
	log_info("chatai.fcgi: signal %d: stopping (requests in flight finish, waiting long-polls are answered)", sig);
	FCGX_ShutdownPending();
	pthread_mutex_lock(&lf_mu);
	stopping = 1;
	for (int i = 0; i < lf_top; i++)
		pthread_cond_signal(&lf_stack[i]->cv);
	pthread_cond_broadcast(&slot_cv);
	pthread_mutex_unlock(&lf_mu);
	lp_stop();
	int64_t until = now_ms() + 1800;
	for (;;) {
		pthread_mutex_lock(&lf_mu);
		/* The leader may sit in accept(): SIGUSR2 makes it return (again and again, in
		 * case it had not reached accept() yet). */
		if (lf_in_accept)
			pthread_kill(lf_leader_tid, SIGUSR2);
		int busy = in_flight;
		pthread_mutex_unlock(&lf_mu);
		if ((busy == 0 && lp_idle()) || now_ms() >= until)
			break;
		usleep(20000);
	}
	pthread_mutex_lock(&lf_mu);
	int busy = in_flight;
	pthread_mutex_unlock(&lf_mu);
	if (busy > 0 || !lp_idle())
		log_warn("chatai.fcgi: stopping with %d request(s) still in flight", busy);
	else
		log_info("chatai.fcgi: stopped");
	_exit(0);
	return NULL;
}

#define USAGE "usage: chatai.fcgi [--config FILE] [--listen HOST:PORT|PATH] [--threads N]"

/* The command line. */
struct options {
	const char *config_file;
	const char *listen_addr; /* NULL: the inherited socket (or CGI) */
	int64_t threads;         /* -1: setting fcgi_threads */
};

/* DAEMON_RUN to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){ NULL, NULL, -1 };
	const char *threads = NULL;
	const struct daemon_opt opts[] = {
		{ "--config", &o->config_file, NULL },
		{ "--listen", &o->listen_addr, NULL },
		{ "--threads", &threads, NULL },
		{ NULL, NULL, NULL },
	};
	int rc = daemon_args(argc, argv, opts, USAGE);
	if (rc == DAEMON_RUN && threads && parse_int64(threads, 1, 4096, &o->threads) < 0) {
		fprintf(stderr, "%s\n", USAGE);
		return 2;
	}
	return rc;
}

/* Configuration, logs, settings, limits: 0, or -1 (told on stderr or in the log). */
static int setup(struct options *o)
{
	db_url = daemon_setup("chatai.fcgi", o->config_file);
	if (!db_url)
		return -1;
	app_settings_load();
	authcache_init(app_cfg.auth_cache_ttl);
	ratelimit_init(db_url);
	/* Every parked long-poll holds its FastCGI link: every file the hard limit allows. */
	daemon_limits();
	if (o->threads < 0)
		(void)settings_int(SET_fcgi_threads, &o->threads); /* 1..4096, as --threads */
	if (!o->listen_addr)
		o->listen_addr = settings_str(SET_fcgi_listen);
	lp_start(db_url, 2, app_cfg.longpoll_max);
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return -1;
	}
	(void)pollmode_init(!o->listen_addr && FCGX_IsCGI(), o->listen_addr != NULL);
	inlineai_init();
	return 0;
}

/* Plain CGI: one request on the environment and stdin/stdout, one link. */
static int run_cgi(int64_t pool_wait)
{
	dbpool_init(db_url, 1, pool_wait);
	struct transport *c = xcalloc(1, sizeof *c);
	int parked = 0;
	serve(c, &parked);
	if (parked)
		lp_drain();
	else
		free(c);
	dbpool_close();
	return 0;
}

/* The stopper thread (stopper_main): every thread inherits the mask set here, so
 * SIGTERM and SIGINT go to it only; SIGUSR2 (no SA_RESTART) wakes the leader out of
 * accept(). 0 or -1. */
static int start_stopper(pthread_t *stopper)
{
	static sigset_t stop_set;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	if (pthread_create(stopper, NULL, stopper_main, &stop_set) != 0) {
		log_error("cannot start the signal thread");
		return -1;
	}
	return 0;
}

/* The thread pool on the listening socket, until the stop (which exits the process). */
static int run_pool(const struct options *o, int64_t pool, int64_t pool_wait)
{
	int64_t threads = o->threads;
	dbpool_init(db_url, (int)(pool < threads ? pool : threads), pool_wait);
	max_in_flight = (int)(pool < threads ? pool : threads);
	postbatch_init(32, max_in_flight > 2 ? 2 : 1, slot_release, slot_take);
	pthread_t stopper;
	if (start_stopper(&stopper) < 0)
		return 1;
	lp_start_now();
	log_info("chatai.fcgi: %lld threads on %s", (long long)threads,
	         o->listen_addr ? o->listen_addr : "the inherited socket");
	web_server_addrs_set = getenv("FCGI_WEB_SERVER_ADDRS") != NULL;
	lf_stack = xcalloc((size_t)threads, sizeof *lf_stack);
	pthread_t *t = xcalloc((size_t)threads, sizeof *t);
	for (int64_t i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, worker_main, NULL) != 0) {
			log_error("cannot start worker thread %lld", (long long)i);
			return 1;
		}
	for (int64_t i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	pthread_mutex_lock(&lf_mu);
	int st = stopping;
	pthread_mutex_unlock(&lf_mu);
	if (st)
		pthread_join(stopper, NULL); /* it exits the process */
	return 1;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc != DAEMON_RUN)
		return rc;
	if (setup(&o) < 0)
		return 1;
	int64_t pool = 0, pool_wait = 0;
	(void)settings_int(SET_fcgi_db_pool, &pool);
	(void)settings_int(SET_fcgi_db_wait, &pool_wait);
	if (o.listen_addr) {
		listen_fd = FCGX_OpenSocket(o.listen_addr, 1024);
		if (listen_fd < 0) {
			log_error("cannot listen on %s", o.listen_addr);
			return 1;
		}
	} else if (FCGX_IsCGI()) {
		return run_cgi(pool_wait);
	}
	return run_pool(&o, pool, pool_wait);
}
