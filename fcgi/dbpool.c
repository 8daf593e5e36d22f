/* SPDX-License-Identifier: MIT */
/* dbpool: the database links of a process, lent per request (see dbpool.h). */
#include "autoconfig.h"
#include "dbpool.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static struct db *links;   /* all of them */
static struct db **idle;   /* returned ones, the most recent on top */
static int nidle, size;
static int64_t wait_ms = 2000;

void dbpool_init(const char *url, int n, int64_t wait)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &a);
	pthread_condattr_destroy(&a);
	size = n < 1 ? 1 : n;
	wait_ms = wait < 0 ? 0 : wait;
	links = xcalloc((size_t)size, sizeof *links);
	idle = xcalloc((size_t)size, sizeof *idle);
	/* Pushed in reverse, so links[0] is lent first. */
	for (int i = size - 1; i >= 0; i--) {
		links[i].url = xstrdup(url ? url : "");
		links[i].retry_ms = 250;
		links[i].status = DB_DOWN;
		idle[nidle++] = &links[i];
	}
}

/*
 * A link that the server closed while we were idle (restart, admin shutdown) has the
 * server's last words or EOF waiting on its socket. An idle worker link never receives
 * anything else worth keeping (it does not LISTEN), so a readable socket means: drop the
 * link now, and this request reconnects instead of failing on the dead one.
 */
static void db_check_idle(struct db *db)
{
	if (!db->conn)
		return;
	struct pollfd p = { PQsocket(db->conn), POLLIN, 0 };
	if (PQstatus(db->conn) == CONNECTION_OK && poll(&p, 1, 0) <= 0)
		return;
	log_info("database: the idle link was closed by the server, reconnecting");
	PQfinish(db->conn);
	db->conn = NULL;
	db->next_try_ms = 0;
}

struct db *dbpool_get(void)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (nidle == 0) {
		if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT && nidle == 0) {
			pthread_mutex_unlock(&mu);
			log_warn("database: all %d links of this process stayed busy for %lld ms (fcgi_db_pool)", size,
			         (long long)wait_ms);
			return NULL;
		}
	}
	struct db *db = idle[--nidle];
	pthread_mutex_unlock(&mu);
	db_check_idle(db);
	return db;
}

void dbpool_put(struct db *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&mu);
	idle[nidle++] = db;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

void dbpool_close(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nidle; i++) {
		if (idle[i]->conn)
			PQfinish(idle[i]->conn);
		idle[i]->conn = NULL;
		db_prep_reset(idle[i]);
	}
	pthread_mutex_unlock(&mu);
}
