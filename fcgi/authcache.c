/* SPDX-License-Identifier: MIT */
/* authcache: verified sessions and widget dialogs, kept while the LISTEN link is up (see authcache.h). */
#include "autoconfig.h"
#include "authcache.h"
#include "util.h"

#include <cjson/cJSON.h>

#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 1024
#define MAX_ENTRIES 8192

/* One remembered answer: a session (key: its token hash, id 0) or a widget dialog (key:
 * the dialog id and one visitor token hash). */
struct entry {
	struct entry *next;
	int64_t id;                   /* the dialog; 0 for a session */
	char hash[AC_HASH_CHARS + 1]; /* the token hash */
	int64_t born_ms;
	int64_t expires_s;            /* the session's expires_at (Unix seconds); dialogs: never */
	union {
		struct ac_session s;
		struct ac_dialog d;
	} v;                          /* the answer; its text (json, allowed_json) is owned */
};

/* The entries of one kind: a chained hash table, and where its answer's text lies. */
struct table {
	size_t size;     /* of the answer: sizeof (struct ac_session) or (struct ac_dialog) */
	size_t text_off; /* offset of its owned text pointer */
	struct entry *bucket[NBUCKETS];
	size_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct table sess = { sizeof(struct ac_session), offsetof(struct ac_session, json), { 0 }, 0 };
static struct table dlgs = { sizeof(struct ac_dialog), offsetof(struct ac_dialog, allowed_json), { 0 }, 0 };
static uint64_t gen = 1;
static int64_t ttl_ms;
static int listen_fd = -1;  /* under mu */
static int busy_depth;      /* under mu: the dispatcher is applying notifications */

static unsigned bucket_of_hash(const char *h)
{
	uint32_t v = 2166136261u;
	for (int i = 0; h[i]; i++)
		v = (v ^ (unsigned char)h[i]) * 16777619u;
	return v % NBUCKETS;
}

static unsigned bucket_of_id(int64_t id)
{
	return (unsigned)((uint64_t)id * 0x9E3779B97F4A7C15ULL >> 40) % NBUCKETS;
}

/* The text pointer of an answer of t (an entry's v, or a caller's struct). */
static char **text_of(const struct table *t, const void *answer)
{
	return (char **)((uintptr_t)answer + t->text_off);
}

static void entry_free(const struct table *t, struct entry *e)
{
	free(*text_of(t, &e->v));
	free(e);
}

static void table_clear(struct table *t)
{
	for (size_t b = 0; b < NBUCKETS; b++) {
		for (struct entry *e = t->bucket[b], *n; e; e = n) {
			n = e->next;
			entry_free(t, e);
		}
		t->bucket[b] = NULL;
	}
	t->n = 0;
}

void authcache_init(int64_t ttl_s)
{
	pthread_mutex_lock(&mu);
	ttl_ms = ttl_s > 0 ? ttl_s * 1000 : 0;
	pthread_mutex_unlock(&mu);
}

uint64_t authcache_gen(void)
{
	pthread_mutex_lock(&mu);
	uint64_t g = gen;
	pthread_mutex_unlock(&mu);
	return g;
}

/* Called with mu held: may an entry be trusted right now? Not while the link is down,
 * the dispatcher is applying notifications, or notifications wait unread. */
static int usable_locked(void)
{
	if (ttl_ms <= 0 || listen_fd < 0 || busy_depth > 0)
		return 0;
	struct pollfd p = { listen_fd, POLLIN, 0 };
	return poll(&p, 1, 0) == 0;
}

/* Drop the entry *pp of t (mu held). */
static void drop_locked(struct table *t, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->next;
	entry_free(t, e);
	t->n--;
}

/* 1 and *out (the answer of t's entry (id, hash) in bucket b, its text copied) when the
 * entry is there and usable; an entry found aged is dropped. */
static int cache_get(struct table *t, unsigned b, int64_t id, const char *hash, void *out)
{
	int64_t now = now_ms();
	int found = 0;
	pthread_mutex_lock(&mu);
	if (usable_locked()) {
		struct entry **pp = &t->bucket[b], *e;
		while ((e = *pp) && (e->id != id || strcmp(e->hash, hash) != 0))
			pp = &e->next;
		if (e && (now - e->born_ms >= ttl_ms || e->expires_s <= (int64_t)time(NULL))) {
			drop_locked(t, pp);
		} else if (e) {
			memcpy(out, &e->v, t->size);
			*text_of(t, out) = xstrdup(*text_of(t, &e->v));
			found = 1;
		}
	}
	pthread_mutex_unlock(&mu);
	return found;
}

/* Remember answer (copied, its text too) for t's key (id, hash) in bucket b, unless gen
 * moved past g since the query (or the cache is off). */
static void cache_put(struct table *t, unsigned b, int64_t id, const char *hash, const void *answer,
		      int64_t expires_s, uint64_t g)
{
	pthread_mutex_lock(&mu);
	if (g == gen && ttl_ms > 0 && listen_fd >= 0 && strlen(hash) == AC_HASH_CHARS) {
		if (t->n >= MAX_ENTRIES)
			table_clear(t);
		struct entry *e = NULL;
		for (e = t->bucket[b]; e && (e->id != id || strcmp(e->hash, hash) != 0); e = e->next)
			;
		if (!e) {
			e = xcalloc(1, sizeof *e);
			e->id = id;
			memcpy(e->hash, hash, AC_HASH_CHARS + 1);
			e->next = t->bucket[b];
			t->bucket[b] = e;
			t->n++;
		} else {
			free(*text_of(t, &e->v));
		}
		memcpy(&e->v, answer, t->size);
		*text_of(t, &e->v) = xstrdup(*text_of(t, answer));
		e->expires_s = expires_s;
		e->born_ms = now_ms();
	}
	pthread_mutex_unlock(&mu);
}

int authcache_session_get(const char *hash, struct ac_session *out)
{
	return cache_get(&sess, bucket_of_hash(hash), 0, hash, out);
}

void authcache_session_put(const char *hash, const struct ac_session *s, uint64_t g)
{
	cache_put(&sess, bucket_of_hash(hash), 0, hash, s, s->expires_s, g);
}

int authcache_dialog_get(int64_t id, const char *token_hash, struct ac_dialog *out)
{
	return cache_get(&dlgs, bucket_of_id(id), id, token_hash, out);
}

void authcache_dialog_put(int64_t id, const struct ac_dialog *d, uint64_t g)
{
	cache_put(&dlgs, bucket_of_id(id), id, d->token_hash, d, INT64_MAX, g);
}

/* Forget every entry: what was put from an answer read before now is not taken (mu held). */
static void forget_all_locked(void)
{
	gen++;
	table_clear(&sess);
	table_clear(&dlgs);
}

void authcache_flush(void)
{
	pthread_mutex_lock(&mu);
	forget_all_locked();
	pthread_mutex_unlock(&mu);
}

void authcache_listening(int fd)
{
	pthread_mutex_lock(&mu);
	forget_all_locked();
	listen_fd = fd;
	pthread_mutex_unlock(&mu);
}

void authcache_busy(int busy)
{
	pthread_mutex_lock(&mu);
	if (busy) {
		busy_depth++;
	} else if (busy_depth > 0) {
		busy_depth--;
	}
	pthread_mutex_unlock(&mu);
}

static int of_session(const struct entry *e, int64_t id)
{
	return e->v.s.session_id == id;
}

static int of_operator(const struct entry *e, int64_t id)
{
	return e->v.s.operator_id == id;
}

static int of_assistant(const struct entry *e, int64_t id)
{
	return e->v.d.assistant_id == id;
}

/* The cache events of channel `chatai` (sql/008_triggers.sql): what each one names. */
static const struct cache_event {
	const char *k;      /* the payload's "k" */
	const char *id_key; /* the payload's key of the id */
	struct table *t;    /* the entries it may make wrong */
	int (*names)(const struct entry *e, int64_t id);
} events[] = {
	{ "revoke", "session_id", &sess, of_session },
	{ "operator", "operator_id", &sess, of_operator },
	{ "assistant", "assistant_id", &dlgs, of_assistant },
};

static const struct cache_event *event_of(const char *k)
{
	for (size_t i = 0; i < sizeof events / sizeof *events; i++)
		if (strcmp(k, events[i].k) == 0)
			return &events[i];
	return NULL;
}

int authcache_note(const char *k, int64_t id)
{
	const struct cache_event *ev = event_of(k);
	if (!ev)
		return 0;
	pthread_mutex_lock(&mu);
	gen++;
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct entry **pp = &ev->t->bucket[b], *e; (e = *pp);) {
			if (ev->names(e, id))
				drop_locked(ev->t, pp);
			else
				pp = &e->next;
		}
	pthread_mutex_unlock(&mu);
	return 1;
}

void authcache_event(const cJSON *o)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "k");
	const struct cache_event *ev = cJSON_IsString(k) ? event_of(k->valuestring) : NULL;
	if (!ev)
		return;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, ev->id_key);
	if (cJSON_IsNumber(id))
		(void)authcache_note(ev->k, (int64_t)id->valuedouble);
	else
		authcache_flush();
}
