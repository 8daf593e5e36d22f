/* SPDX-License-Identifier: MIT */
/*
 * chatai-notifier: the streams daemon (WebSocket and SSE) of ChatAI.
 *
 *   chatai-notifier [--config FILE] [--listen ADDR[,ADDR...]]
 *
 * Foreground, one thread, one libev loop. SIGTERM/SIGINT: stop accepting, close
 * WebSockets with 1001 and end SSE streams, exit when they are gone (3 s at most).
 * SIGHUP: reload the settings file (timers, caps, log level, database URL for the next
 * reconnect; listen addresses are kept).
 */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "http.h"
#include "hub.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mailstate.h"
#include "metrics.h"
#include "pgfeed.h"
#include "redis_sub.h"
#include "settings.h"
#include "wstyping.h"
#include "util.h"

static const char *config_file;
static const char *listen_override;
static struct loop_timer exit_timer;
static struct redis_sub *redis;

/* Typing events published through Redis (when redis_url is set) are routed exactly
 * like those that come by NOTIFY. */
static void on_redis_event(void *ctx, const struct redis_sub_event *ev)
{
	hub_notify(ev->json, ev->len, now_us());
}

static const char *redis_state(void)
{
	return redis_sub_state_str(redis_sub_state(redis));
}

/* A notifier key from the table (all SP_FALLBACK: a bad value is corrected with a
 * warning); derived: the default when the table works none out. */
static int64_t setting(enum setting_id id, int64_t derived)
{
	(void)settings_int(id, &derived);
	return derived;
}

static void read_settings(struct conn_settings *st)
{
	st->ping_interval = (double)setting(SET_notifier_ping_interval, 0);
	st->peer_timeout = (double)setting(SET_notifier_peer_timeout, 0);
	st->sse_ping_interval = (double)setting(SET_notifier_sse_ping_interval, 0);
	st->handshake_timeout = (double)setting(SET_notifier_handshake_timeout, 0);
	st->linger = 2.0;
	st->max_queue = (size_t)setting(SET_notifier_max_queue, 0);
	st->soft_queue = (size_t)setting(SET_notifier_soft_queue, (int64_t)(st->max_queue / 4));
	st->soft_seconds = (double)setting(SET_notifier_soft_queue_seconds, 0);
	st->max_per_ip = (unsigned)setting(SET_notifier_max_per_ip, 0);
	int64_t rl = setting(SET_rate_limit_typing, 0);
	st->typing_per_minute = (unsigned)(rl < UINT32_MAX ? rl : UINT32_MAX);
	st->sndbuf = (int)setting(SET_notifier_sndbuf, 0);
	st->ntrusted = 0;
	char *list = xstrdup(settings_str(SET_notifier_trusted_proxies)), *save = NULL;
	for (char *t = strtok_r(list, ", ", &save); t && st->ntrusted < 8; t = strtok_r(NULL, ", ", &save)) {
		if (strcmp(t, "none") == 0)
			continue;
		if (http_forwarded_addr(t, st->trusted[st->ntrusted]) == 0)
			st->ntrusted++;
		else
			log_warn("notifier_trusted_proxies: '%s' is not an address: ignored", t);
	}
	free(list);
	if (st->peer_timeout < st->ping_interval)
		st->peer_timeout = st->ping_interval * 2;
	if (st->soft_queue > st->max_queue)
		st->soft_queue = st->max_queue;
}

static void exit_now(void *data)
{
	loop_break();
}

static void on_term(int sig)
{
	static int stopping;
	if (stopping++) {
		log_info("signal %d: already shutting down", sig);
		return;
	}
	log_info("signal %d: shutting down", sig);
	conn_shutdown();
	loop_timer_init(&exit_timer, exit_now, NULL);
	loop_timer_again(&exit_timer, 3.0);
}

static void on_hup(int sig)
{
	const char *err = NULL;
	if (config_load(config_file, &err) != 0) {
		log_error("reload failed: %s", err ? err : "?");
		return;
	}
	if (listen_override)
		config_set("notifier_listen", listen_override);
	struct conn_settings st;
	read_settings(&st);
	conn_settings_set(&st);
	log_init("chatai-notifier", settings_str(SET_log_target), settings_str(SET_log_level));
	const char *url = config_get("database_url", NULL);
	if (url)
		pgfeed_set_url(url);
	log_info("configuration reloaded");
}

static void on_listen_up(int first)
{
	if (!first) {
		log_info("LISTEN link back: catching every channel up from the table");
		conn_recheck_sessions();
	}
	hub_resync();
}

int main(int argc, char **argv)
{
	const struct daemon_opt opts[] = {
		{ "--config", &config_file, NULL },
		{ "--listen", &listen_override, NULL },
		{ NULL, NULL, NULL },
	};
	int rc = daemon_args(argc, argv, opts,
			     "usage: chatai-notifier [--config FILE] [--listen ADDR[,ADDR...]]");
	if (rc != DAEMON_RUN)
		return rc;
	const char *url = daemon_setup("chatai-notifier", config_file);
	if (!url)
		return 1;
	if (listen_override)
		config_set("notifier_listen", listen_override);
	/* Many thousands of sockets: take every descriptor the hard limit allows. */
	daemon_limits();

	loop_init();
	metrics_init();
	struct conn_settings st;
	read_settings(&st);
	conn_init(&st);
	if (conn_listen(settings_str(SET_notifier_listen)) != 0)
		return 1;
	pgfeed_start(url, hub_notify, on_listen_up);
	mailstate_start();
	redis = redis_sub_start(config_get("redis_url", NULL), on_redis_event, NULL, NULL);
	wstyping_init(config_get("redis_url", NULL));
	conn_set_redis_state(redis_state);
	loop_on_signal(SIGTERM, on_term);
	loop_on_signal(SIGINT, on_term);
	loop_on_signal(SIGHUP, on_hup);

	loop_run();

	redis_sub_stop(redis);
	wstyping_free();
	pgfeed_stop();
	conn_free_all();
	hub_shutdown();
	config_free();
	log_info("stopped");
	return 0;
}
