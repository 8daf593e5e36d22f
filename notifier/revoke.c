/* SPDX-License-Identifier: MIT */
/*
 * revoke: operator sessions revoked, deleted or shortened while their streams are open.
 *
 * {"k":"revoke","session_id":N} means the session was revoked, deleted or its expiry
 * moved back: it may still be valid (a shorter expiry), so it is asked again
 * (auth_session_sql) and then every stream of it is ended, or re-armed to its new expiry.
 *
 * Streams still authenticating are why it is asked at all: their auth query may have
 * read the session before the revocation committed, and they have no session id until it
 * answers. The query link answers in order, so such an auth query answers before the
 * re-check, whose snapshot follows the commit: when the re-check says "gone", every
 * stream of the session, those just authorised included, has its id and is ended; an
 * auth query sent after it sees the revocation itself. The ids found gone are also kept
 * for REVOKED_KEEP past the longest handshake, and an auth answer naming one is refused
 * (revoke_has(), request.c).
 */
#include "autoconfig.h"
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "pgfeed.h"
#include "util.h"

struct revoked {
	int64_t sid;
	double at; /* loop time it was found gone */
};
static struct revoked *revoked;
static size_t n_revoked, cap_revoked;

static double revoked_keep(void)
{
	return conn_cfg.handshake_timeout + 2.0;
}

static void revoked_add(int64_t sid)
{
	double now = loop_now();
	size_t k = 0;
	for (size_t i = 0; i < n_revoked; i++)
		if (now - revoked[i].at < revoked_keep() && revoked[i].sid != sid)
			revoked[k++] = revoked[i];
	n_revoked = k;
	if (n_revoked == cap_revoked) {
		cap_revoked = cap_revoked ? cap_revoked * 2 : 16;
		revoked = xrealloc(revoked, cap_revoked * sizeof(*revoked));
	}
	revoked[n_revoked].sid = sid;
	revoked[n_revoked].at = now;
	n_revoked++;
}

int revoke_has(int64_t sid)
{
	double now = loop_now();
	for (size_t i = 0; i < n_revoked; i++)
		if (revoked[i].sid == sid && now - revoked[i].at < revoked_keep())
			return 1;
	return 0;
}

void revoke_free_all(void)
{
	free(revoked);
	revoked = NULL;
	n_revoked = cap_revoked = 0;
}

static void session_check_done(void *arg, PGresult *res)
{
	int64_t sid = *(int64_t *)arg;
	free(arg);
	if (!res)
		return; /* shutting down */
	double left = auth_session_left(res);
	if (left <= 0)
		revoked_add(sid);
	for (struct client *c = all_clients; c; c = c->next) {
		if (c->is_visitor || c->session_id != sid || c->state != CS_OPEN)
			continue;
		if (left <= 0) {
			conn_end_session(c, "session revoked");
		} else {
			c->expires_at = loop_now() + left;
			conn_arm(c);
		}
	}
}

/* Ask about session sid again (survives a lost link: asked again after reconnecting). */
static void session_check(int64_t sid)
{
	char p[24];
	const char *params[1] = { p };
	int64_t *arg = xmalloc(sizeof(*arg));
	*arg = sid;
	snprintf(p, sizeof(p), "%lld", (long long)sid);
	pgfeed_query(auth_session_sql, 1, params, PGJOB_RETRY, session_check_done, arg);
}

void conn_revoke_session(int64_t session_id)
{
	int wanted = 0;
	for (struct client *c = all_clients; c && !wanted; c = c->next)
		if (!c->is_visitor && (c->session_id == session_id || c->state == CS_AUTH))
			wanted = 1;
	if (wanted)
		session_check(session_id);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

void conn_recheck_sessions(void)
{
	size_t n = 0, k = 0;
	for (struct client *c = all_clients; c; c = c->next)
		n += !c->is_visitor && c->session_id && c->state == CS_OPEN;
	if (!n)
		return;
	int64_t *ids = xmalloc(n * sizeof(*ids));
	for (struct client *c = all_clients; c && k < n; c = c->next)
		if (!c->is_visitor && c->session_id && c->state == CS_OPEN)
			ids[k++] = c->session_id;
	qsort(ids, k, sizeof(*ids), cmp_i64);
	for (size_t i = 0; i < k; i++)
		if (i == 0 || ids[i] != ids[i - 1])
			session_check(ids[i]);
	free(ids);
}
