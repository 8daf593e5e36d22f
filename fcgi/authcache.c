/* SPDX-License-Identifier: MIT */
/* authcache: verified sessions and widget dialogs, kept while the LISTEN link is up (see authcache.h). */
#include "autoconfig.h"
#include "authcache.h"
#include "util.h"

#include <cjson/cJSON.h>

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 1024
#define MAX_ENTRIES 8192

struct sess_entry {
	struct sess_entry *next;
	char hash[AC_HASH_CHARS + 1];
	struct ac_session s;
	int64_t born_ms;
};

struct dlg_entry {
	struct dlg_entry *next;
	int64_t id;
	struct ac_dialog d;
	int64_t born_ms;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sess_entry *sess[NBUCKETS];
static struct dlg_entry *dlgs[NBUCKETS];
static size_t nsess, ndlgs;
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

static void sess_free_all(void)
{
	for (size_t b = 0; b < NBUCKETS; b++) {
		for (struct sess_entry *e = sess[b], *n; e; e = n) {
			n = e->next;
			free(e->s.json);
			free(e);
		}
		sess[b] = NULL;
	}
	nsess = 0;
}

static void dlg_free_all(void)
{
	for (size_t b = 0; b < NBUCKETS; b++) {
		for (struct dlg_entry *e = dlgs[b], *n; e; e = n) {
			n = e->next;
			free(e->d.allowed_json);
			free(e);
		}
		dlgs[b] = NULL;
	}
	ndlgs = 0;
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

int authcache_session_get(const char *hash, struct ac_session *out)
{
	int64_t now = now_ms();
	int found = 0;
	pthread_mutex_lock(&mu);
	if (usable_locked()) {
		struct sess_entry **pp = &sess[bucket_of_hash(hash)];
		for (struct sess_entry *e = *pp; e; pp = &e->next, e = e->next) {
			if (strcmp(e->hash, hash) != 0)
				continue;
			if (now - e->born_ms >= ttl_ms || e->s.expires_s <= (int64_t)time(NULL)) {
				*pp = e->next;
				free(e->s.json);
				free(e);
				nsess--;
			} else {
				*out = e->s;
				out->json = xstrdup(e->s.json);
				found = 1;
			}
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return found;
}

void authcache_session_put(const char *hash, const struct ac_session *s, uint64_t g)
{
	pthread_mutex_lock(&mu);
	if (g == gen && ttl_ms > 0 && listen_fd >= 0 && strlen(hash) == AC_HASH_CHARS) {
		if (nsess >= MAX_ENTRIES)
			sess_free_all();
		unsigned b = bucket_of_hash(hash);
		struct sess_entry *e = NULL;
		for (e = sess[b]; e && strcmp(e->hash, hash) != 0; e = e->next)
			;
		if (!e) {
			e = xcalloc(1, sizeof *e);
			memcpy(e->hash, hash, AC_HASH_CHARS + 1);
			e->next = sess[b];
			sess[b] = e;
			nsess++;
		} else {
			free(e->s.json);
		}
		e->s = *s;
		e->s.json = xstrdup(s->json);
		e->born_ms = now_ms();
	}
	pthread_mutex_unlock(&mu);
}

int authcache_dialog_get(int64_t id, const char *token_hash, struct ac_dialog *out)
{
	int64_t now = now_ms();
	int found = 0;
	pthread_mutex_lock(&mu);
	if (usable_locked()) {
		struct dlg_entry **pp = &dlgs[bucket_of_id(id)];
		for (struct dlg_entry *e = *pp; e; pp = &e->next, e = e->next) {
			if (e->id != id || strcmp(e->d.token_hash, token_hash) != 0)
				continue;
			if (now - e->born_ms >= ttl_ms) {
				*pp = e->next;
				free(e->d.allowed_json);
				free(e);
				ndlgs--;
			} else {
				*out = e->d;
				out->allowed_json = xstrdup(e->d.allowed_json);
				found = 1;
			}
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return found;
}

void authcache_dialog_put(int64_t id, const struct ac_dialog *d, uint64_t g)
{
	pthread_mutex_lock(&mu);
	if (g == gen && ttl_ms > 0 && listen_fd >= 0 && strlen(d->token_hash) == AC_HASH_CHARS) {
		if (ndlgs >= MAX_ENTRIES)
			dlg_free_all();
		unsigned b = bucket_of_id(id);
		struct dlg_entry *e = NULL;
		for (e = dlgs[b]; e && (e->id != id || strcmp(e->d.token_hash, d->token_hash) != 0); e = e->next)
			;
		if (!e) {
			e = xcalloc(1, sizeof *e);
			e->id = id;
			e->next = dlgs[b];
			dlgs[b] = e;
			ndlgs++;
		} else {
			free(e->d.allowed_json);
		}
		e->d = *d;
		e->d.allowed_json = xstrdup(d->allowed_json);
		e->born_ms = now_ms();
	}
	pthread_mutex_unlock(&mu);
}

void authcache_flush(void)
{
	pthread_mutex_lock(&mu);
	gen++;
	sess_free_all();
	dlg_free_all();
	pthread_mutex_unlock(&mu);
}

void authcache_listening(int fd)
{
	pthread_mutex_lock(&mu);
	gen++;
	sess_free_all();
	dlg_free_all();
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

int authcache_note(const char *k, int64_t id)
{
	int which = strcmp(k, "revoke") == 0 ? 1 : strcmp(k, "operator") == 0 ? 2 : strcmp(k, "assistant") == 0 ? 3 : 0;
	if (!which)
		return 0;
	pthread_mutex_lock(&mu);
	gen++;
	if (which == 3) {
		for (size_t b = 0; b < NBUCKETS; b++)
			for (struct dlg_entry **pp = &dlgs[b], *e; (e = *pp);) {
				if (e->d.assistant_id == id) {
					*pp = e->next;
					free(e->d.allowed_json);
					free(e);
					ndlgs--;
				} else {
					pp = &e->next;
				}
			}
	} else {
		for (size_t b = 0; b < NBUCKETS; b++)
			for (struct sess_entry **pp = &sess[b], *e; (e = *pp);) {
				if ((which == 1 && e->s.session_id == id) || (which == 2 && e->s.operator_id == id)) {
					*pp = e->next;
					free(e->s.json);
					free(e);
					nsess--;
				} else {
					pp = &e->next;
				}
			}
	}
	pthread_mutex_unlock(&mu);
	return 1;
}

void authcache_event(const cJSON *o)
{
	static const char *const idkey[][2] = {
		{ "revoke", "session_id" }, { "operator", "operator_id" }, { "assistant", "assistant_id" } };
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "k");
	if (!cJSON_IsString(k))
		return;
	for (size_t i = 0; i < sizeof idkey / sizeof *idkey; i++) {
		if (strcmp(k->valuestring, idkey[i][0]) != 0)
			continue;
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, idkey[i][1]);
		if (cJSON_IsNumber(id))
			(void)authcache_note(k->valuestring, (int64_t)id->valuedouble);
		else
			authcache_flush();
	}
}
