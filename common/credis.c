/* SPDX-License-Identifier: MIT */
/* credis: rate limits, typing fan-out and presence over Redis (hiredis, synchronous).
 * redis_url parsing is in credis_url.c. */
#include "autoconfig.h"
#include "credis.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define CREDIS_RL_PREFIX "chatai:rl:"
#define CREDIS_PRESENCE_KEY "chatai:presence"

/*
 * The scripts. Each runs atomically on the server, so two web hosts counting the same
 * client never both see "first hit", and presence expiry is measured on Redis's clock.
 * replicate_commands() makes TIME followed by writes legal on Redis 3.2 to 4; on 5 and
 * later it is the default (and on 7 a no-op).
 */
enum credis_script { SCRIPT_RATELIMIT = 0, SCRIPT_TOUCH, SCRIPT_ONLINE, SCRIPT_COUNT };

static const char *const script_src[SCRIPT_COUNT] = {
	/* KEYS[1] counter, ARGV[1] window in ms -> {count, ms left in the window} */
	"local n = redis.call('INCR', KEYS[1])\n"
	"local ttl = redis.call('PTTL', KEYS[1])\n"
	"if ttl < 0 then\n"
	"  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
	"  ttl = tonumber(ARGV[1])\n"
	"end\n"
	"return {n, ttl}\n",
	/* KEYS[1] presence set, ARGV[1] operator id, ARGV[2] ttl in s */
	"if redis.replicate_commands then redis.replicate_commands() end\n"
	"local now = tonumber(redis.call('TIME')[1])\n"
	"redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
	"return 1\n",
	/* KEYS[1] presence set -> members whose expiry is still ahead */
	("local now = redis.call('TIME')[1]\n"
	 "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')\n"),
};

struct credis {
	redisContext *ctx;          /* NULL or the current link */
	struct credis_url url;      /* where to connect, owned */
	char where[96];             /* host:port or socket path, for logs (no secrets) */
	int connect_ms;             /* connect timeout */
	int command_ms;             /* timeout of each command */
	int retry_ms;               /* first spacing of attempts after a failure */
	int up;                     /* the last call reached Redis */
	char sha[SCRIPT_COUNT][41]; /* SCRIPT LOAD digests, "" until loaded */
	int64_t touch_id;           /* operator last touched on this handle (0: none) */
	int64_t touch_ms;           /* when (monotonic ms) */
	int touch_ttl;              /* with which ttl */
};

/*
 * The state the process last logged: -1 unknown (nothing logged yet), 0 down, 1 up.
 * Shared by every handle of the process so that 32 FastCGI threads seeing the same
 * outage log it once.
 */
static atomic_int credis_logged_state = -1;

/*
 * The gate, also process-wide: after a failure no handle of the process tries Redis
 * before credis_gate_ms (monotonic; 0 = open). The spacing starts at retry_ms and
 * doubles with each failed attempt up to RETRY_MAX_MS, so a frozen Redis (every
 * attempt costs a full timeout) stalls one request now and then, not every thread on
 * every request. When the gate opens, one thread (the one that moves it, by
 * compare-and-swap) probes while the others keep taking the PostgreSQL path.
 */
#define RETRY_MAX_MS 2000
static _Atomic int64_t credis_gate_ms = 0;
static atomic_int credis_backoff_ms = 0;

/* 1 when this call must not touch Redis. */
static int gate_closed(const struct credis *c)
{
	int64_t g = atomic_load(&credis_gate_ms);
	if (g == 0)
		return 0;
	int64_t now = now_ms();
	if (now < g)
		return 1;
	/* Expired: the thread that moves it probes; the probe's outcome resets it. */
	int64_t probe_until = now + c->connect_ms + 2 * c->command_ms;
	return !atomic_compare_exchange_strong(&credis_gate_ms, &g, probe_until);
}

static void gate_fail(const struct credis *c)
{
	int b = atomic_load(&credis_backoff_ms);
	b = b <= 0 ? c->retry_ms : (b * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : b * 2);
	if (b < 1)
		b = 1;
	atomic_store(&credis_backoff_ms, b);
	atomic_store(&credis_gate_ms, now_ms() + b);
}

static void note_up(struct credis *c)
{
	c->up = 1;
	atomic_store(&credis_gate_ms, 0);
	atomic_store(&credis_backoff_ms, 0);
	int prev = atomic_exchange(&credis_logged_state, 1);
	if (prev == 0)
		log_info("redis back (%s)", c->where);
	else if (prev == -1)
		log_info("redis: connected to %s", c->where);
}

static void note_down(struct credis *c, const char *why)
{
	c->up = 0;
	gate_fail(c);
	if (atomic_exchange(&credis_logged_state, 0) != 0)
		log_warn("redis down: falling back to PostgreSQL (%s: %s)", c->where, why);
}

/* ---------------------------------------------------------------------------------- */
/* Link management */

static struct timeval ms_tv(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	return tv;
}

static void drop(struct credis *c)
{
	if (c->ctx)
		redisFree(c->ctx);
	c->ctx = NULL;
}

/* Run one command on a fresh link during the handshake; 0 or -1 (*why set). */
static int handshake_cmd(redisContext *ctx, int argc, const char **argv, char *why, size_t wlen)
{
	redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
	if (!r) {
		snprintf(why, wlen, "%s", ctx->errstr);
		return -1;
	}
	int rc = 0;
	if (r->type == REDIS_REPLY_ERROR) {
		/* The server's text names the command, never the password. */
		snprintf(why, wlen, "%s refused: %.*s", argv[0], (int)r->len, r->str);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

static int connect_now(struct credis *c)
{
	char why[160] = "";
	struct timeval tv = ms_tv(c->connect_ms);
	redisContext *ctx = c->url.path ? redisConnectUnixWithTimeout(c->url.path, tv)
					: redisConnectWithTimeout(c->url.host, c->url.port, tv);
	if (!ctx) {
		snprintf(why, sizeof why, "cannot allocate a hiredis context");
		goto fail;
	}
	if (ctx->err) {
		snprintf(why, sizeof why, "%s", ctx->errstr);
		goto fail;
	}
	if (redisSetTimeout(ctx, ms_tv(c->command_ms)) != REDIS_OK) {
		snprintf(why, sizeof why, "cannot set the command timeout");
		goto fail;
	}
	/* Keepalive finds a peer that vanished without a FIN (TCP only). */
	if (!c->url.path && redisEnableKeepAlive(ctx) != REDIS_OK) {
		snprintf(why, sizeof why, "%s", ctx->errstr);
		goto fail;
	}
	if (c->url.password) {
		const char *argv[3] = { "AUTH", c->url.user ? c->url.user : c->url.password,
					c->url.password };
		if (handshake_cmd(ctx, c->url.user ? 3 : 2, argv, why, sizeof why) < 0)
			goto fail;
	}
	if (c->url.db != 0) {
		char num[16];
		snprintf(num, sizeof num, "%d", c->url.db);
		const char *argv[2] = { "SELECT", num };
		if (handshake_cmd(ctx, 2, argv, why, sizeof why) < 0)
			goto fail;
	}
	/* A frozen server still completes the TCP handshake (the kernel does it): only an
	 * answer proves the link usable. */
	const char *ping[1] = { "PING" };
	if (handshake_cmd(ctx, 1, ping, why, sizeof why) < 0)
		goto fail;
	c->ctx = ctx;
	/* A new link may be a restarted, empty Redis: touch presence again at once. */
	c->touch_id = 0;
	/* Redis answered: open the gate (the commands that follow in this call, such as a
	 * SCRIPT LOAD after NOSCRIPT, must not be stopped by this thread's own probe). */
	note_up(c);
	return 0;
fail:
	if (ctx)
		redisFree(ctx);
	note_down(c, why);
	return -1;
}

/* The link, reconnecting when the gate allows. 0 or -1 (then: take the other path). */
static int ensure(struct credis *c)
{
	if (gate_closed(c)) {
		c->up = 0;
		return -1;
	}
	if (c->ctx)
		return 0;
	return connect_now(c);
}

/* An I/O failure that a fresh connection may cure at once: the server closed or reset
 * the link (a restart). A timeout is not retried: that would double the wait. */
static int worth_retry(const redisContext *ctx, int saved_errno)
{
	if (ctx->err == REDIS_ERR_EOF)
		return 1;
	return ctx->err == REDIS_ERR_IO &&
	       (saved_errno == ECONNRESET || saved_errno == EPIPE || saved_errno == ENOTCONN);
}

/*
 * One command. A reply (possibly an error reply: the caller reads it) or NULL when the
 * link is unusable (then the handle is marked down). A link found dead on first use is
 * replaced once at once, so a Redis restart costs no failed request.
 */
static redisReply *command(struct credis *c, int argc, const char **argv, const size_t *lens)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int fresh = c->ctx == NULL;
		/* The retry bypasses the gate: this thread has just been let through it (or
		 * it was open), and a gate it set itself as the prober must not stop it. */
		if (attempt == 0 ? ensure(c) < 0 : connect_now(c) < 0)
			return NULL;
		errno = 0;
		redisReply *r = redisCommandArgv(c->ctx, argc, argv, lens);
		if (r)
			return r;
		int saved = errno;
		char why[160];
		snprintf(why, sizeof why, "%s", c->ctx->errstr[0] ? c->ctx->errstr : "I/O error");
		int retry = !fresh && worth_retry(c->ctx, saved);
		drop(c);
		if (!retry) {
			note_down(c, why);
			return NULL;
		}
	}
	return NULL;
}

static int script_load(struct credis *c, enum credis_script s)
{
	const char *argv[3] = { "SCRIPT", "LOAD", script_src[s] };
	redisReply *r = command(c, 3, argv, NULL);
	if (!r)
		return -1;
	int rc = -1;
	if (r->type == REDIS_REPLY_STRING && r->len == 40) {
		memcpy(c->sha[s], r->str, 40);
		c->sha[s][40] = '\0';
		rc = 0;
	} else {
		note_down(c, r->type == REDIS_REPLY_ERROR ? r->str : "SCRIPT LOAD: unexpected reply");
	}
	freeReplyObject(r);
	return rc;
}

/*
 * EVALSHA script s with nkeys keys then args (argc entries of argv after the
 * EVALSHA/sha/numkeys head, which this fills in). The script is loaded on first use and
 * again after NOSCRIPT (a restarted Redis forgets its script cache). A successful,
 * non-error reply, or NULL (the handle is then marked down).
 */
static redisReply *eval(struct credis *c, enum credis_script s, int nkeys, int argc,
			const char **argv, const size_t *lens)
{
	const char *av[8];
	size_t al[8];
	char nk[8];
	if (argc + 3 > 8)
		return NULL;
	snprintf(nk, sizeof nk, "%d", nkeys);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!c->sha[s][0] && script_load(c, s) < 0)
			return NULL;
		av[0] = "EVALSHA";
		al[0] = 7;
		av[1] = c->sha[s];
		al[1] = 40;
		av[2] = nk;
		al[2] = strlen(nk);
		for (int i = 0; i < argc; i++) {
			av[3 + i] = argv[i];
			al[3 + i] = lens ? lens[i] : strlen(argv[i]);
		}
		redisReply *r = command(c, argc + 3, av, al);
		if (!r)
			return NULL;
		if (r->type != REDIS_REPLY_ERROR) {
			note_up(c);
			return r;
		}
		int noscript = strncmp(r->str, "NOSCRIPT", 8) == 0;
		if (!noscript || attempt == 1) {
			char why[160];
			snprintf(why, sizeof why, "%.*s", (int)r->len, r->str);
			freeReplyObject(r);
			note_down(c, why);
			return NULL;
		}
		freeReplyObject(r);
		c->sha[s][0] = '\0';
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Public functions */

struct credis *credis_open(const char *url)
{
	struct credis *c = xcalloc(1, sizeof *c);
	if (credis_url_open(url, "running without Redis", &c->url, c->where, sizeof c->where) < 0) {
		free(c);
		return NULL;
	}
	c->connect_ms = 200;
	c->command_ms = 200;
	c->retry_ms = 250;
	/* While Redis is known down, connect later (first use after the gate opens). */
	if (!gate_closed(c))
		(void)connect_now(c);
	return c;
}

void credis_close(struct credis *c)
{
	if (!c)
		return;
	drop(c);
	credis_url_free(&c->url);
	free(c);
}

/* What credis_thread() keeps per thread: the handle and the redis_url it was opened
 * with, so that a reloaded setting (SIGHUP in the AI worker) takes effect. */
struct credis_tls {
	struct credis *c; /* NULL: Redis off for url */
	char *url;        /* NULL: unset */
};

static pthread_key_t credis_key;
static pthread_once_t credis_key_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
	struct credis_tls *t = p;
	credis_close(t->c);
	if (t->url) {
		explicit_bzero(t->url, strlen(t->url));
		free(t->url);
	}
	free(t);
}

static void thread_key_create(void)
{
	if (pthread_key_create(&credis_key, tls_free) != 0)
		abort();
}

struct credis *credis_thread(void)
{
	pthread_once(&credis_key_once, thread_key_create);
	const char *url = config_get("redis_url", NULL);
	if (url && !*url)
		url = NULL;
	struct credis_tls *t = pthread_getspecific(credis_key);
	if (t && (t->url == url || (t->url && url && strcmp(t->url, url) == 0)))
		return t->c;
	if (t)
		tls_free(t);
	t = xcalloc(1, sizeof *t);
	t->url = url ? xstrdup(url) : NULL;
	t->c = credis_open(url);
	(void)pthread_setspecific(credis_key, t);
	return t->c;
}

void credis_set_timeouts(struct credis *c, int connect_ms, int command_ms, int retry_ms)
{
	if (!c)
		return;
	c->connect_ms = connect_ms > 0 ? connect_ms : 1;
	c->command_ms = command_ms > 0 ? command_ms : 1;
	c->retry_ms = retry_ms >= 0 ? retry_ms : 0;
	if (c->ctx)
		(void)redisSetTimeout(c->ctx, ms_tv(c->command_ms));
}

int credis_up(const struct credis *c)
{
	return c && c->up;
}

int credis_ratelimit_hit(struct credis *c, const char *key, int limit, int window_s,
			 int *retry_after, int64_t *count)
{
	if (retry_after)
		*retry_after = 0;
	if (count)
		*count = 0;
	if (!c)
		return CREDIS_OFF;
	if (!key || !*key || limit < 1 || window_s < 1 || window_s > 86400 * 366)
		return CREDIS_INVALID;
	char *k = xasprintf(CREDIS_RL_PREFIX "%s", key);
	char win[24];
	snprintf(win, sizeof win, "%lld", (long long)window_s * 1000);
	const char *argv[2] = { k, win };
	redisReply *r = eval(c, SCRIPT_RATELIMIT, 1, 2, argv, NULL);
	free(k);
	if (!r)
		return CREDIS_DOWN;
	int rc = CREDIS_DOWN;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
		long long n = r->element[0]->integer, ms = r->element[1]->integer;
		if (count)
			*count = n;
		if (retry_after) {
			long long s = (ms + 999) / 1000;
			*retry_after = s < 1 ? 1 : (int)s;
		}
		rc = n <= limit ? CREDIS_OK : CREDIS_LIMITED;
	} else {
		note_down(c, "rate-limit script: unexpected reply");
	}
	freeReplyObject(r);
	return rc;
}

int credis_publish(struct credis *c, const char *channel, const char *json, size_t len,
		   int64_t *receivers)
{
	if (receivers)
		*receivers = 0;
	if (!c)
		return CREDIS_OFF;
	if (!channel || !*channel || !json)
		return CREDIS_INVALID;
	const char *argv[3] = { "PUBLISH", channel, json };
	size_t lens[3] = { 7, strlen(channel), len };
	redisReply *r = command(c, 3, argv, lens);
	if (!r)
		return CREDIS_DOWN;
	int rc = CREDIS_DOWN;
	if (r->type == REDIS_REPLY_INTEGER) {
		if (receivers)
			*receivers = r->integer;
		note_up(c);
		rc = CREDIS_OK;
	} else {
		note_down(c, r->type == REDIS_REPLY_ERROR ? r->str : "PUBLISH: unexpected reply");
	}
	freeReplyObject(r);
	return rc;
}

int credis_publish_typing(struct credis *c, int64_t dialog_id, int64_t assistant_id,
			  const char *who, const char *state)
{
	if (!c)
		return CREDIS_OFF;
	if (!who || !state || dialog_id < 1 || assistant_id < 1 ||
	    (strcmp(who, "user") != 0 && strcmp(who, "ai") != 0 && strcmp(who, "manager") != 0) ||
	    (strcmp(state, "start") != 0 && strcmp(state, "stop") != 0))
		return CREDIS_INVALID;
	char json[160];
	int n = snprintf(json, sizeof json,
			 "{\"k\":\"typing\",\"dialog_id\":%" PRId64 ",\"assistant_id\":%" PRId64
			 ",\"who\":\"%s\",\"state\":\"%s\"}",
			 dialog_id, assistant_id, who, state);
	int64_t receivers = 0;
	int rc = credis_publish(c, CREDIS_CHANNEL, json, (size_t)n, &receivers);
	if (rc != CREDIS_OK)
		return rc;
	if (receivers == 0) {
		/* Redis is up but no notifier listens there (none configured with Redis, or
		 * all reconnecting): PostgreSQL reaches them. */
		log_debug("redis: no subscriber on " CREDIS_CHANNEL ": typing goes by PostgreSQL");
		return CREDIS_DOWN;
	}
	return CREDIS_OK;
}

int credis_presence_touch(struct credis *c, int64_t operator_id, int ttl_s)
{
	if (!c)
		return CREDIS_OFF;
	if (operator_id < 1 || ttl_s < 1 || ttl_s > 86400 * 366)
		return CREDIS_INVALID;
	/* An operator's panel makes several requests a second at times: touching once per
	 * quarter of the ttl is enough to stay present. */
	int64_t now = now_ms();
	if (c->up && c->touch_id == operator_id && c->touch_ttl == ttl_s &&
	    now - c->touch_ms < (int64_t)ttl_s * 250)
		return CREDIS_OK;
	char id[24], ttl[16];
	snprintf(id, sizeof id, "%" PRId64, operator_id);
	snprintf(ttl, sizeof ttl, "%d", ttl_s);
	const char *argv[3] = { CREDIS_PRESENCE_KEY, id, ttl };
	redisReply *r = eval(c, SCRIPT_TOUCH, 1, 3, argv, NULL);
	if (!r)
		return CREDIS_DOWN;
	freeReplyObject(r);
	c->touch_id = operator_id;
	c->touch_ms = now;
	c->touch_ttl = ttl_s;
	return CREDIS_OK;
}

int credis_presence_clear(struct credis *c, int64_t operator_id)
{
	if (!c)
		return CREDIS_OFF;
	if (operator_id < 1)
		return CREDIS_INVALID;
	if (c->touch_id == operator_id)
		c->touch_id = 0;
	char id[24];
	snprintf(id, sizeof id, "%" PRId64, operator_id);
	const char *argv[3] = { "ZREM", CREDIS_PRESENCE_KEY, id };
	redisReply *r = command(c, 3, argv, NULL);
	if (!r)
		return CREDIS_DOWN;
	int rc = r->type == REDIS_REPLY_INTEGER ? CREDIS_OK : CREDIS_DOWN;
	if (rc == CREDIS_OK)
		note_up(c);
	else
		note_down(c, r->type == REDIS_REPLY_ERROR ? r->str : "ZREM: unexpected reply");
	freeReplyObject(r);
	return rc;
}

int credis_operators_online(struct credis *c, int64_t *count)
{
	if (count)
		*count = 0;
	if (!c)
		return CREDIS_OFF;
	const char *argv[1] = { CREDIS_PRESENCE_KEY };
	redisReply *r = eval(c, SCRIPT_ONLINE, 1, 1, argv, NULL);
	if (!r)
		return CREDIS_DOWN;
	int rc = CREDIS_DOWN;
	if (r->type == REDIS_REPLY_INTEGER) {
		if (count)
			*count = r->integer;
		rc = CREDIS_OK;
	} else {
		note_down(c, "presence script: unexpected reply");
	}
	freeReplyObject(r);
	return rc;
}

const char *credis_status_str(int status)
{
	switch (status) {
	case CREDIS_OK: return "ok";
	case CREDIS_LIMITED: return "limited";
	case CREDIS_DOWN: return "down";
	case CREDIS_OFF: return "off";
	case CREDIS_INVALID: return "invalid";
	default: return "unknown";
	}
}
