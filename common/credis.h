/* SPDX-License-Identifier: MIT */
/*
 * credis: the optional Redis side of the REST workers and the assistant worker
 * (hiredis, synchronous). Redis carries only what may be lost: rate-limit counters shared
 * by every web host, typing events fanned out to every notifier, and operator presence.
 * No chat message ever goes through Redis; PostgreSQL stays the one source of truth.
 *
 * Every call answers quickly. A struct credis owns one hiredis context with short
 * connect and command timeouts (200 ms each by default); when the link is lost, or
 * Redis answers an error, the call returns CREDIS_DOWN and the caller takes its
 * PostgreSQL path (pg rate limiter, chatai_typing(), operators.last_seen_at). A link
 * the server closed (a Redis restart) is replaced at once, transparently. Any other
 * failure closes a process-wide gate, as common/db.c spaces its reconnects: no handle
 * tries Redis for 250 ms, then 500 ms, ... up to 2 s while it stays down, and when the
 * gate opens one thread probes while the others stay on PostgreSQL; so a dead or
 * frozen Redis costs almost nothing per request. "redis down: falling back to
 * PostgreSQL" and "redis back" are logged once per transition for the whole process.
 *
 * One struct credis per thread (like struct db). A NULL handle means "no redis_url
 * configured": every call then returns CREDIS_OFF at once and logs nothing.
 *
 * Keys: "chatai:rl:<key>" (rate-limit counters, a fixed window each), "chatai:presence"
 * (a sorted set: member operator id, score the Unix time its presence expires, Redis's
 * own clock so that hosts with skewed clocks agree). Channel "chatai:ephemeral" carries
 * the typing JSON of docs/internals.md, the same object the `chatai` NOTIFY carries.
 */
#ifndef CHATAI_CREDIS_H
#define CHATAI_CREDIS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* The pub/sub channel of ephemeral events (typing). */
#define CREDIS_CHANNEL "chatai:ephemeral"

enum credis_status {
	CREDIS_OK = 0,       /* done; for a rate limit: this hit is allowed */
	CREDIS_LIMITED = 1,  /* rate limit: over the limit, *retry_after set */
	CREDIS_DOWN = -1,    /* Redis unreachable or refusing: take the PostgreSQL path */
	CREDIS_OFF = -2,     /* no Redis configured (NULL handle): take the PostgreSQL path */
	CREDIS_INVALID = -3, /* bad argument (caller bug or bad input): nothing was sent */
};

/* A parsed redis_url. */
struct credis_url {
	char *host;     /* host name or address (brackets of [v6] removed), NULL for unix */
	char *path;     /* unix socket path, NULL for TCP */
	int port;       /* TCP port, default 6379 */
	int db;         /* database number, default 0 */
	char *user;     /* ACL user name (Redis 6+), NULL when none */
	char *password; /* NULL when none; percent-decoded */
};

/*
 * Accepted forms:
 *   redis://[[user]:password@]host[:port][/db]     host may be [v6addr]
 *   unix:///path/to/redis.sock[?db=N][&password=P]  (also unix:/path, or a bare /path)
 * Returns 0, or -1 with *why set (static text) on a malformed URL. Free with
 * credis_url_free().
 */
int credis_url_parse(const char *url, struct credis_url *out, const char **why) CHATAI_WUR;
void credis_url_free(struct credis_url *u);
/* Where u points, for logs (never the password): "host:port", "[v6]:port" or the path. */
void credis_url_where(const struct credis_url *u, char *out, size_t cap);
/* The setting redis_url as a program opens it: 0 with *u parsed and where (cap bytes)
 * filled; -1 when url is unset or empty (quietly), or malformed: logged, with `without`
 * saying what the program does then (the URL may hold a password: the log says what is
 * wrong, not what it is). */
int credis_url_open(const char *url, const char *without, struct credis_url *u, char *where,
		    size_t cap) CHATAI_WUR;

struct credis;

/*
 * The calling thread's handle for the setting redis_url (config_get), opened on first
 * use and closed when the thread exits; NULL when redis_url is unset or malformed. For
 * threaded programs whose threads each need one (FastCGI workers): it saves passing a
 * handle through every layer. config_load() must have run before the first call; when
 * a reload changes redis_url, the next call opens a handle for the new value.
 */
struct credis *credis_thread(void);

/*
 * A handle for url (redis_url). NULL or "" gives NULL: Redis is off. A malformed URL
 * also gives NULL, with an error logged (the program then runs on PostgreSQL alone).
 * Connects at once; a failure is not fatal: calls answer CREDIS_DOWN until it is back.
 */
struct credis *credis_open(const char *url);
void credis_close(struct credis *c);

/* Tuning (tests): timeouts of connect and of each command, first spacing of attempts. */
void credis_set_timeouts(struct credis *c, int connect_ms, int command_ms, int retry_ms);

/* 1 when the last call on this handle reached Redis, 0 otherwise (NULL: 0). */
int credis_up(const struct credis *c);

/*
 * One hit on the fixed-window counter key (window_s seconds, limit hits per window),
 * atomic across every host (one Lua script: INCR, and PEXPIRE when the key has no
 * expiry yet). CREDIS_OK: allowed. CREDIS_LIMITED: refused. In both cases
 * *retry_after = seconds until the window ends (>= 1) and *count = this window's
 * count (each may be NULL). CREDIS_DOWN / CREDIS_OFF: the caller decides with its
 * PostgreSQL limiter (both outputs 0).
 */
int credis_ratelimit_hit(struct credis *c, const char *key, int limit, int window_s,
			 int *retry_after, int64_t *count);

/* PUBLISH json on channel. *receivers (may be NULL): how many subscribers got it. */
int credis_publish(struct credis *c, const char *channel, const char *json, size_t len,
		   int64_t *receivers);

/*
 * Publish the typing event of docs/internals.md on CREDIS_CHANNEL:
 * {"k":"typing","dialog_id":D,"assistant_id":A,"who":W,"state":S}. who is "user", "ai"
 * or "manager", state "start" or "stop" (else CREDIS_INVALID). CREDIS_OK means at least
 * one notifier is subscribed and got it; when none is (receivers == 0) the answer is
 * CREDIS_DOWN so that the caller sends it with chatai_typing() instead.
 */
int credis_publish_typing(struct credis *c, int64_t dialog_id, int64_t assistant_id,
			  const char *who, const char *state);

/* How long a presence entry lives: the window of chatai_operators_online()
 * (sql/003_auth.sql), the one rule of "operators online" that this set caches. */
#define CREDIS_PRESENCE_TTL 120

/* Mark operator_id present for ttl_s seconds (it drops out by itself afterwards). A
 * handle that touched the same operator less than ttl_s / 4 ago answers CREDIS_OK
 * without a round trip. */
int credis_presence_touch(struct credis *c, int64_t operator_id, int ttl_s);
/* Drop operator_id at once (logout). */
int credis_presence_clear(struct credis *c, int64_t operator_id);
/* *count = operators whose presence has not expired. */
int credis_operators_online(struct credis *c, int64_t *count);

/* "ok", "limited", "down", "off", "invalid". */
const char *credis_status_str(int status);

#endif
