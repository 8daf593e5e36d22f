/* SPDX-License-Identifier: MIT */
/* redis_sub: typing events from Redis pub/sub into the notifier's hub. */
#include "autoconfig.h"
#include "redis_sub.h"
#include "credis.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libev.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_S 2.0
/* A typing object is about 100 bytes; anything much larger is not one. */
#define PAYLOAD_MAX 1024

struct redis_sub {
	struct credis_url url;       /* where, owned */
	char where[96];              /* host:port or socket path, for logs */
	redisAsyncContext *ac;       /* NULL between connections */
	enum redis_sub_state state;  /* DOWN or UP */
	int backoff_ms;              /* delay before the next attempt */
	int attempts;                /* connection attempts so far */
	int stopping;                /* redis_sub_stop() runs: no more retries */
	int down_logged;             /* the current outage was logged */
	int timed_out;               /* the attempt was abandoned by connect_timeout */
	int64_t last_reject_log_ms;  /* rejected payloads are logged at most once a minute */
	struct loop_timer retry;     /* fires the next connection attempt */
	struct loop_timer connect_timeout; /* abandons an attempt that hangs */
	redis_sub_event_fn on_event;
	redis_sub_state_fn on_state;
	void *ctx;
	struct redis_sub_stats stats;
};

static void connect_now(struct redis_sub *rs);

const char *redis_sub_state_str(enum redis_sub_state st)
{
	switch (st) {
	case REDIS_SUB_UP: return "up";
	case REDIS_SUB_DOWN: return "down";
	default: return "off";
	}
}

enum redis_sub_state redis_sub_state(const struct redis_sub *rs)
{
	return rs ? rs->state : REDIS_SUB_OFF;
}

void redis_sub_stats(const struct redis_sub *rs, struct redis_sub_stats *out)
{
	if (rs)
		*out = rs->stats;
	else
		memset(out, 0, sizeof *out);
}

/* ---------------------------------------------------------------------------------- */
/* Payload validation (pure) */

static const char *pick(const char *s, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(s, *allowed) == 0)
			return *allowed;
	return NULL;
}

int redis_sub_parse(const char *payload, size_t len, struct redis_sub_event *ev, char *buf,
		    size_t buflen)
{
	static const char *const whos[] = { "user", "ai", "manager", NULL };
	static const char *const states[] = { "start", "stop", NULL };
	if (!payload || len == 0 || len > PAYLOAD_MAX || !utf8_valid(payload, len))
		return -1;
	enum json_parse_err jerr;
	cJSON *o = json_parse_body(payload, len, &jerr);
	if (!o)
		return -1;
	int rc = -1;
	const char *k, *who, *state;
	int64_t dialog, assistant;
	if (json_get_str(o, "k", &k) != 0 || strcmp(k, "typing") != 0)
		goto out;
	if (json_get_int64(o, "dialog_id", &dialog) != 0 || dialog < 1 ||
	    json_get_int64(o, "assistant_id", &assistant) != 0 || assistant < 1)
		goto out;
	if (json_get_str(o, "who", &who) != 0 || !(ev->who = pick(who, whos)))
		goto out;
	if (json_get_str(o, "state", &state) != 0 || !(ev->state = pick(state, states)))
		goto out;
	/* Hand on a canonical object: nothing a publisher added rides along. */
	int n = snprintf(buf, buflen,
			 "{\"k\":\"typing\",\"dialog_id\":%" PRId64 ",\"assistant_id\":%" PRId64
			 ",\"who\":\"%s\",\"state\":\"%s\"}",
			 dialog, assistant, ev->who, ev->state);
	if (n < 0 || (size_t)n >= buflen)
		goto out;
	ev->json = buf;
	ev->len = (size_t)n;
	ev->dialog_id = dialog;
	ev->assistant_id = assistant;
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Connection state */

static void set_state(struct redis_sub *rs, enum redis_sub_state st)
{
	if (rs->state == st)
		return;
	rs->state = st;
	if (rs->on_state)
		rs->on_state(rs->ctx, st);
}

/* The link is gone (rs->ac already NULL or being freed by hiredis): retry later. */
static void lost(struct redis_sub *rs, const char *why)
{
	loop_timer_stop(&rs->connect_timeout);
	if (rs->stopping)
		return;
	if (rs->state == REDIS_SUB_UP || !rs->down_logged) {
		log_warn("redis subscriber: down (%s: %s); typing keeps flowing through PostgreSQL",
			 rs->where, why);
		rs->down_logged = 1;
	} else {
		log_debug("redis subscriber: attempt failed (%s: %s), next in %d ms", rs->where,
			  why, rs->backoff_ms);
	}
	set_state(rs, REDIS_SUB_DOWN);
	loop_timer_once(&rs->retry, rs->backoff_ms / 1000.0);
	rs->backoff_ms = rs->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rs->backoff_ms * 2;
}

/* The reply r to rs's command `what`, or NULL when there is nothing to do with it: the
 * context is being torn down (a NULL reply; on_disconnect follows), rs is stopping, or the
 * server refused the command (logged with the server's text, never the password; the
 * link is dropped, and lost() retries it). */
static redisReply *reply_of(redisAsyncContext *ac, struct redis_sub *rs, void *r, const char *what)
{
	redisReply *reply = r;
	if (!reply || rs->stopping)
		return NULL;
	if (reply->type == REDIS_REPLY_ERROR) {
		log_warn("redis subscriber: %s refused at %s: %.*s", what, rs->where, (int)reply->len,
			 reply->str);
		redisAsyncDisconnect(ac);
		return NULL;
	}
	return reply;
}

static void on_message(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis_sub *rs = privdata;
	redisReply *reply = reply_of(ac, rs, r, "SUBSCRIBE");
	if (!reply)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING)
		return;
	const char *kind = reply->element[0]->str;
	if (strcmp(kind, "subscribe") == 0) {
		loop_timer_stop(&rs->connect_timeout);
		rs->backoff_ms = BACKOFF_MIN_MS;
		rs->down_logged = 0;
		log_info("redis subscriber: subscribed to %s at %s", CREDIS_CHANNEL, rs->where);
		set_state(rs, REDIS_SUB_UP);
		return;
	}
	if (strcmp(kind, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	struct redis_sub_event ev;
	char buf[256];
	if (redis_sub_parse(reply->element[2]->str, reply->element[2]->len, &ev, buf,
			    sizeof buf) < 0) {
		rs->stats.rejected++;
		int64_t now = now_ms();
		if (now - rs->last_reject_log_ms >= 60000 || rs->last_reject_log_ms == 0) {
			rs->last_reject_log_ms = now;
			log_warn("redis subscriber: dropped a payload on %s that is not a typing "
				 "event (%zu bytes; %" PRIu64 " dropped so far)",
				 CREDIS_CHANNEL, reply->element[2]->len, rs->stats.rejected);
		}
		return;
	}
	rs->stats.events++;
	rs->on_event(rs->ctx, &ev);
}

static void subscribe(struct redis_sub *rs, redisAsyncContext *ac)
{
	if (redisAsyncCommand(ac, on_message, rs, "SUBSCRIBE %s", CREDIS_CHANNEL) != REDIS_OK)
		redisAsyncDisconnect(ac);
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis_sub *rs = privdata;
	if (reply_of(ac, rs, r, "AUTH"))
		subscribe(rs, ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct redis_sub *rs = ac->data;
	if (status == REDIS_OK)
		return; /* UP once the subscription is confirmed */
	/* hiredis frees the context after this callback. */
	rs->ac = NULL;
	lost(rs, ac->errstr ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_sub *rs = ac->data;
	rs->ac = NULL;
	const char *why = status == REDIS_OK ? "disconnected" : (ac->errstr ? ac->errstr : "link lost");
	if (rs->timed_out)
		why = "connected but no subscription within the connect timeout";
	rs->timed_out = 0;
	lost(rs, why);
}

static void retry_cb(void *data)
{
	connect_now(data);
}

static void connect_timeout_cb(void *data)
{
	struct redis_sub *rs = data;
	redisAsyncContext *ac = rs->ac;
	if (!ac || rs->state == REDIS_SUB_UP)
		return;
	/* Not from inside a hiredis callback: freeing here is allowed. A context that had
	 * connected calls on_disconnect (which schedules the retry); one that had not
	 * calls nothing, so do it here. */
	rs->ac = NULL;
	int was_connected = (ac->c.flags & REDIS_CONNECTED) != 0;
	rs->timed_out = was_connected;
	redisAsyncFree(ac);
	if (!was_connected)
		lost(rs, "connect timed out");
}

static void connect_now(struct redis_sub *rs)
{
	if (rs->stopping || rs->ac)
		return;
	if (rs->attempts++ > 0)
		rs->stats.reconnects++;
	redisAsyncContext *ac = rs->url.path ? redisAsyncConnectUnix(rs->url.path)
					     : redisAsyncConnect(rs->url.host, rs->url.port);
	if (!ac || ac->err) {
		char why[128];
		snprintf(why, sizeof why, "%s", ac && ac->errstr ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		lost(rs, why);
		return;
	}
	ac->data = rs;
	if (redisLibevAttach(loop_ev(), ac) != REDIS_OK) {
		redisAsyncFree(ac);
		lost(rs, "cannot attach to the event loop");
		return;
	}
	rs->ac = ac;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	loop_timer_once(&rs->connect_timeout, CONNECT_TIMEOUT_S);
	if (rs->url.password) {
		const char *argv[3] = { "AUTH", rs->url.user ? rs->url.user : rs->url.password,
					rs->url.password };
		if (redisAsyncCommandArgv(ac, on_auth, rs, rs->url.user ? 3 : 2, argv, NULL) !=
		    REDIS_OK)
			redisAsyncDisconnect(ac);
		return;
	}
	subscribe(rs, ac);
}

struct redis_sub *redis_sub_start(const char *url,
				  redis_sub_event_fn on_event, redis_sub_state_fn on_state,
				  void *ctx)
{
	struct redis_sub *rs = xcalloc(1, sizeof *rs);
	if (credis_url_open(url, "typing goes through PostgreSQL only", &rs->url, rs->where,
			    sizeof rs->where) < 0) {
		free(rs);
		return NULL;
	}
	rs->on_event = on_event;
	rs->on_state = on_state;
	rs->ctx = ctx;
	rs->state = REDIS_SUB_DOWN;
	rs->backoff_ms = BACKOFF_MIN_MS;
	loop_timer_init(&rs->retry, retry_cb, rs);
	loop_timer_init(&rs->connect_timeout, connect_timeout_cb, rs);
	connect_now(rs);
	return rs;
}

void redis_sub_stop(struct redis_sub *rs)
{
	if (!rs)
		return;
	rs->stopping = 1;
	loop_timer_stop(&rs->retry);
	loop_timer_stop(&rs->connect_timeout);
	if (rs->ac) {
		redisAsyncContext *ac = rs->ac;
		rs->ac = NULL;
		redisAsyncFree(ac); /* calls on_disconnect (a no-op while stopping) */
	}
	credis_url_free(&rs->url);
	free(rs);
}
