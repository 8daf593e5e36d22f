/* SPDX-License-Identifier: MIT */
/* ratelimit: fixed-window rate limits: Redis, else this host's shared memory, else PostgreSQL. */
#include "autoconfig.h"
#include "ratelimit.h"
#include "credis.h"
#include "log.h"
#include "request.h"
#include "router.h"
#include "appcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- PostgreSQL (UNLOGGED table rate_limits) ---- */

static int pg_hit(struct db *db, const char *key, int64_t window, int64_t *hits, int64_t *retry_after)
{
	char w[24];
	snprintf(w, sizeof w, "%lld", (long long)window);
	const char *p[2] = { key, w };
	PGresult *res = db_exec(db, "SELECT hits, retry_after FROM chatai_rate_hit($1, $2::int)", 2, p);
	if (!res)
		return -1;
	int rc = -1;
	if (PQntuples(res) == 1) {
		*hits = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*retry_after = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* ---- this host's shared memory ----
 * One segment per (user, database) pair, shared by every chatai.fcgi process of that
 * user on this host, whoever started it (lighttpd, mod_fcgid, CGI): an open-addressed
 * table of counters under a robust process-shared mutex. */

#define SHM_MAGIC 0x43484154524c3031ULL /* "CHATRL01" */
#define SHM_SLOTS 4096
#define SHM_PROBE 32

struct shm_slot {
	uint64_t key;     /* FNV-1a of the key text, 0 = free */
	int64_t window;   /* index of the window: floor(now / window seconds) */
	int64_t count;
	int64_t len;      /* window length, seconds */
};

struct shm_table {
	_Atomic uint64_t magic; /* set last by the creator */
	pthread_mutex_t mu;
	struct shm_slot slot[SHM_SLOTS];
};

static struct shm_table *shm;
static int shm_state; /* 0 untried, 1 ready, -1 unavailable */
static pthread_mutex_t shm_once_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fnv(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void shm_open_table(const char *scope)
{
	char name[64];
	snprintf(name, sizeof name, "/chatai-rl-%u-%016llx", (unsigned)getuid(),
	         (unsigned long long)fnv(scope ? scope : "", 1469598103934665603ULL));
	int created = 1;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = shm_open(name, O_RDWR | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		log_info("rate limits: no shared memory (%s): counting in PostgreSQL", strerror(errno));
		shm_state = -1;
		return;
	}
	struct stat st;
	if (created && ftruncate(fd, sizeof(struct shm_table)) != 0) {
		log_warn("rate limits: ftruncate: %s", strerror(errno));
		close(fd);
		shm_unlink(name);
		shm_state = -1;
		return;
	}
	/* Another process may still be sizing it. */
	for (int i = 0; !created && i < 200; i++) {
		if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct shm_table))
			break;
		usleep(5000);
	}
	void *p = mmap(NULL, sizeof(struct shm_table), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		shm_state = -1;
		return;
	}
	struct shm_table *t = p;
	if (created) {
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&t->mu, &a);
		pthread_mutexattr_destroy(&a);
		atomic_store(&t->magic, SHM_MAGIC);
	} else {
		for (int i = 0; i < 200 && atomic_load(&t->magic) != SHM_MAGIC; i++)
			usleep(5000);
		if (atomic_load(&t->magic) != SHM_MAGIC) {
			log_warn("rate limits: shared segment %s never got ready: counting in PostgreSQL", name);
			munmap(p, sizeof(struct shm_table));
			shm_state = -1;
			return;
		}
	}
	shm = t;
	shm_state = 1;
}

static const char *shm_scope;

void ratelimit_init(const char *scope)
{
	shm_scope = scope;
}

static int shm_hit(struct db *db, const char *key, int64_t window, int64_t *hits, int64_t *retry_after)
{
	pthread_mutex_lock(&shm_once_mu);
	if (shm_state == 0) {
		/* The scope names the database server's life: a fresh or restarted cluster
		 * starts with fresh counters, as the PostgreSQL table would. */
		PGresult *res = db_exec(db, "SELECT current_database() || '|' || pg_postmaster_start_time()::text", 0, NULL);
		if (res && PQntuples(res) == 1) {
			char *scope = xasprintf("%s|%s", shm_scope ? shm_scope : "", PQgetvalue(res, 0, 0));
			shm_open_table(scope);
			free(scope);
		}
		if (res)
			PQclear(res);
	}
	pthread_mutex_unlock(&shm_once_mu);
	if (shm_state != 1)
		return -1;
	if (window < 1)
		window = 1;
	uint64_t k = fnv(key, 1469598103934665603ULL) | 1; /* never 0 */
	int64_t now = (int64_t)time(NULL), w = now / window;
	int rc = pthread_mutex_lock(&shm->mu);
	if (rc == EOWNERDEAD)
		pthread_mutex_consistent(&shm->mu); /* a process died holding it: counters are fine */
	else if (rc != 0)
		return -1;
	struct shm_slot *use = NULL, *victim = NULL;
	for (unsigned i = 0; i < SHM_PROBE; i++) {
		struct shm_slot *s = &shm->slot[(k + i) % SHM_SLOTS];
		if (s->key == k && s->len == window) {
			use = s;
			break;
		}
		int stale = s->key == 0 || s->window * s->len + s->len <= now;
		if (stale && !victim)
			victim = s;
	}
	if (!use) {
		/* A full neighbourhood: the slot whose window ends first gives way. */
		if (!victim) {
			victim = &shm->slot[k % SHM_SLOTS];
			for (unsigned i = 1; i < SHM_PROBE; i++) {
				struct shm_slot *s = &shm->slot[(k + i) % SHM_SLOTS];
				if (s->window * s->len + s->len < victim->window * victim->len + victim->len)
					victim = s;
			}
		}
		use = victim;
		use->key = k;
		use->len = window;
		use->window = w;
		use->count = 0;
	}
	if (use->window != w) {
		use->window = w;
		use->count = 0;
	}
	*hits = ++use->count;
	pthread_mutex_unlock(&shm->mu);
	*retry_after = (w + 1) * window - now;
	if (*retry_after < 1)
		*retry_after = 1;
	return 0;
}

int ratelimit_hit(struct db *db, const char *key, int64_t limit, int64_t window, int64_t *retry_after)
{
	int64_t hits = 0;
	*retry_after = 0;
	if (limit <= 0)
		return RATELIMIT_OK;
	/* Redis, when redis_url is set and it answers: counters shared by every web host. */
	int ra = 0;
	int rc = credis_ratelimit_hit(credis_thread(), key, limit > INT32_MAX ? INT32_MAX : (int)limit,
	                              (int)window, &ra, NULL);
	if (rc == CREDIS_OK || rc == CREDIS_LIMITED) {
		*retry_after = ra;
		return rc == CREDIS_OK ? RATELIMIT_OK : RATELIMIT_LIMITED;
	}
	/* No Redis: this host's shared counters (no database round trip). */
	if (shm_hit(db, key, window, &hits, retry_after) == 0)
		return hits > limit ? RATELIMIT_LIMITED : RATELIMIT_OK;
	/* No shared memory either: PostgreSQL. */
	if (pg_hit(db, key, window, &hits, retry_after) < 0)
		return RATELIMIT_ERROR;
	return hits > limit ? RATELIMIT_LIMITED : RATELIMIT_OK;
}

/* The rate classes of the route flags, the first that a route's flags name wins. */
static const struct rate_class {
	unsigned flag;        /* enum route_flags */
	const char *name;     /* the counter's key prefix */
	const int64_t *limit; /* per minute, in app_cfg (0: off) */
} rate_classes[] = {
	{ ROUTE_RATE_DIALOGS, "dialogs", &app_cfg.rl_dialogs },
	{ ROUTE_RATE_MESSAGES, "messages", &app_cfg.rl_messages },
	{ ROUTE_RATE_TYPING, "typing", &app_cfg.rl_typing },
	{ ROUTE_RATE_LOGIN, "login", &app_cfg.rl_login },
};
/* Widget reads (GET, and a preflight, which carries the flags of the route it asks for). */
static const struct rate_class rate_reads = { ROUTE_WIDGET, "reads", &app_cfg.rl_reads };

/* The rate class of a request to a route with flags f, or NULL when none applies. */
static const struct rate_class *rate_class_of(const struct req *r, unsigned f)
{
	if ((f & ROUTE_WIDGET) && (strcmp(r->method, "GET") == 0 || strcmp(r->method, "OPTIONS") == 0))
		return &rate_reads;
	for (size_t i = 0; i < sizeof rate_classes / sizeof *rate_classes; i++)
		if (f & rate_classes[i].flag)
			return &rate_classes[i];
	return NULL;
}

/* 0 to go on, -1 with 429 (or 503) set. */
int ratelimit_request(struct req *r)
{
	const struct rate_class *cls = rate_class_of(r, r->route ? r->route->flags : ROUTE_WIDGET);
	if (!cls || *cls->limit <= 0)
		return 0;
	char key[160], addr[80];
	addr_limit_key(r->remote_addr ? r->remote_addr : "-", addr, sizeof addr); /* IPv6: its /64 */
	snprintf(key, sizeof key, "%s:%s", cls->name, addr);
	int64_t retry = 0;
	int rc = ratelimit_hit(r->db, key, *cls->limit, 60, &retry);
	if (rc == RATELIMIT_OK)
		return 0;
	if (rc == RATELIMIT_LIMITED) {
		char v[I64_TEXT];
		http_header(r, "Retry-After", i64_text(retry, v));
		http_error(r, 429, "rate_limited", "too many requests, slow down", NULL);
		return -1;
	}
	http_db_error(r, "rate limit");
	return -1;
}
