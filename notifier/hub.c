/* SPDX-License-Identifier: MIT */
/* hub: channels, routing, replay/live merge orchestration (see hub.h). */
#include "autoconfig.h"
#include "hub.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlist.h"
#include "idmap.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "pgfeed.h"
#include "util.h"

struct hub_chan {
	struct idmap_node node;    /* in `chans`; node.id: the dialog's id */
	struct sub *subs;          /* admin and site subscribers */
	struct sub *iter_next;     /* next member of a walk in progress */
	uint32_t nsubs;
	uint8_t query_running;     /* a replay query is in flight (the chan stays allocated) */
	uint8_t retry;             /* a replay failed: the janitor tries again */
};

struct inbox_item {
	struct hub_event *ev;      /* NULL: dropped (its query failed) */
	int ready;
	struct inbox_item *next;
};

static const struct hub_ops *hops;
static struct idmap chans = { .first = 1024 };
#define CHAN(n) ((struct hub_chan *)((char *)(n) - offsetof(struct hub_chan, node)))
static struct sub *inbox_subs, *inbox_iter_next;
static size_t ninbox;
static struct inbox_item *ib_head, *ib_tail;
static struct loop_timer janitor;
static int need_janitor;

static const char replay_sql[] =
	"SELECT m.seq, m.audience = 'all', m.json FROM messages m "
	"WHERE m.dialog_id = $1::bigint AND m.seq > $2::bigint ORDER BY m.seq LIMIT 500";
static const char dialog_sql[] =
	"SELECT jsonb_build_object('type', $2::text, 'dialog', chatai_dialog_json(d))::text "
	"FROM dialogs d WHERE d.id = $1::bigint";
static const char message_sql[] =
	"SELECT m.json FROM messages m WHERE m.dialog_id = $1::bigint AND m.seq = $2::bigint";

static void replay_kick(struct hub_chan *c);

/* ---- events ------------------------------------------------------------------- */

struct hub_event *hub_event_new(int kind, int64_t dialog_id, int64_t seq, char *json, size_t len, int64_t t_recv_us)
{
	struct hub_event *ev = xcalloc(1, sizeof(*ev));
	ev->refs = 1;
	ev->kind = (uint8_t)kind;
	ev->dialog_id = dialog_id;
	ev->seq = seq;
	ev->json = json;
	ev->len = len;
	ev->t_recv_us = t_recv_us;
	return ev;
}

void hub_event_unref(struct hub_event *ev)
{
	if (!ev || --ev->refs)
		return;
	for (int i = 0; i < ENC_N; i++)
		obuf_unref(ev->enc[i]);
	free(ev->json);
	free(ev);
}

/* ---- channel table ------------------------------------------------------------ */

static struct hub_chan *chan_find(int64_t id)
{
	struct idmap_node *n = idmap_find(&chans, id);
	return n ? CHAN(n) : NULL;
}

static struct hub_chan *chan_get(int64_t id)
{
	struct hub_chan *c = chan_find(id);
	if (c)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->node.id = id;
	idmap_add(&chans, &c->node);
	return c;
}

/* Free an empty channel unless a query still refers to it. */
static void chan_maybe_free(struct hub_chan *c)
{
	if (c->subs || c->query_running)
		return;
	idmap_remove(&chans, &c->node);
	free(c);
}

size_t hub_chan_count(void) { return chans.count; }

/* ---- subscribers -------------------------------------------------------------- */

static void list_add(struct sub **head, struct sub *s)
{
	DLIST_PUSH(*head, s);
}

static void list_del(struct sub **head, struct sub **iter_next, struct sub *s)
{
	if (*iter_next == s)
		*iter_next = s->next;
	DLIST_UNLINK(*head, s);
}

static void held_clear(struct sub *s)
{
	for (uint32_t i = 0; i < s->nheld; i++)
		hub_event_unref(s->held[i]);
	free(s->held);
	s->held = NULL;
	s->nheld = s->capheld = 0;
}

static void hold(struct sub *s, struct hub_event *ev)
{
	if (s->nheld >= HUB_HOLD_MAX) {
		/* Too much arrived during the replay: forget it and read it from the table. */
		held_clear(s);
		s->again = 1;
		return;
	}
	if (s->again)
		return;
	if (s->nheld == s->capheld) {
		s->capheld = s->capheld ? s->capheld * 2 : 8;
		s->held = xrealloc(s->held, s->capheld * sizeof(*s->held));
	}
	ev->refs++;
	s->held[s->nheld++] = ev;
}

static int in_audience(const struct sub *s, const struct hub_event *ev)
{
	return s->kind == CHAN_ADMIN || ev->aud_all;
}

/*
 * Fan-out walks subscribers that live in their connections, all over the heap: with one
 * send() per subscriber in between, each is a cache (and TLB) miss. Ask for the next one
 * two places ahead while the current one is served (the connection keeps its hot fields
 * right after its struct sub: HUB_SUB_HOT bytes from it). One place ahead left the load
 * of the next pointer as the loop's stall: the kernel's send() path in between evicts
 * much of what was fetched.
 */
static inline void sub_prefetch(const struct sub *s)
{
	const char *p = (const char *)s;
	for (size_t off = 0; off < HUB_SUB_HOT; off += 64)
		__builtin_prefetch(p + off);
	__builtin_prefetch(p + HUB_SUB_HOT - 1);
}

static void deliver(struct sub *s, struct hub_event *ev)
{
	metrics.events_out_total++;
	hops->deliver(s, ev);
}

/* Run one live message event through a subscriber's cursor. Returns 1 when the
 * subscriber now wants a replay (the caller kicks the channel's replay). */
static int sub_live(struct sub *s, struct hub_event *ev)
{
	switch (cursor_live(&s->cur, ev->seq)) {
	case CURSOR_DROP:
		return 0;
	case CURSOR_HOLD:
		hold(s, ev);
		return 0;
	case CURSOR_GAP:
		hold(s, ev);
		cursor_replay_begin(&s->cur);
		return 1;
	case CURSOR_DELIVER:
		if (!ev->json) {
			/* Sent by reference: the replay reads it from the table. */
			s->cur.last = ev->seq - 1;
			cursor_replay_begin(&s->cur);
			hold(s, ev);
			return 1;
		}
		if (in_audience(s, ev))
			deliver(s, ev);
		return 0;
	}
	return 0;
}

/* A replay covering s has ended: release the held events in order. */
static void sub_replay_finished(struct sub *s)
{
	if (s->again) {
		s->again = 0;
		held_clear(s);
		return; /* still replaying: the next kick reads on from cur.last */
	}
	cursor_replay_end(&s->cur);
	struct hub_event **held = s->held;
	uint32_t n = s->nheld;
	s->held = NULL;
	s->nheld = s->capheld = 0;
	for (uint32_t i = 0; i < n; i++) {
		(void)sub_live(s, held[i]);
		hub_event_unref(held[i]);
	}
	free(held);
}

void hub_sub_join(struct sub *s, int kind, int64_t dialog_id)
{
	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)kind;
	s->joined = 1;
	if (kind == CHAN_INBOX) {
		list_add(&inbox_subs, s);
		ninbox++;
		return;
	}
	cursor_init(&s->cur, 0, 1);
	s->chan = chan_get(dialog_id);
	list_add(&s->chan->subs, s);
	s->chan->nsubs++;
}

void hub_sub_start(struct sub *s, int64_t last, int replay)
{
	s->active = 1;
	if (s->kind == CHAN_INBOX)
		return;
	s->cur.last = last < 0 ? 0 : last;
	if (replay) {
		replay_kick(s->chan);
		return;
	}
	sub_replay_finished(s);
	if (s->cur.replaying)
		replay_kick(s->chan);
}

void hub_sub_resume(struct sub *s)
{
	if (!s->joined || !s->paused)
		return;
	s->paused = 0;
	if (s->chan)
		replay_kick(s->chan);
}

void hub_sub_leave(struct sub *s)
{
	if (!s->joined)
		return;
	s->joined = 0;
	held_clear(s);
	if (s->kind == CHAN_INBOX) {
		list_del(&inbox_subs, &inbox_iter_next, s);
		ninbox--;
		return;
	}
	struct hub_chan *c = s->chan;
	list_del(&c->subs, &c->iter_next, s);
	c->nsubs--;
	s->chan = NULL;
	chan_maybe_free(c);
}

/* ---- replay ------------------------------------------------------------------- */

static void replay_done(void *arg, PGresult *res)
{
	struct hub_chan *c = arg;
	c->query_running = 0;
	metrics.replays_total++;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		for (struct sub *s = c->subs; s; s = s->next)
			s->in_query = 0;
		c->retry = 1;
		need_janitor = 1;
		chan_maybe_free(c);
		return;
	}
	int n = PQntuples(res);
	struct hub_event **evs = n ? xcalloc((size_t)n, sizeof(*evs)) : NULL;
	for (struct sub *s = c->subs, *next; s; s = next) {
		c->iter_next = s->next;
		if (s->in_query) {
			int stopped = 0;
			for (int i = 0; i < n; i++) {
				if (hops->can_take && !hops->can_take(s)) {
					stopped = 1;
					break;
				}
				int64_t seq = 0;
				if (parse_int64(PQgetvalue(res, i, 0), 1, INT64_MAX, &seq) != 0)
					continue;
				if (cursor_replayed(&s->cur, seq) != CURSOR_DELIVER)
					continue;
				int all = PQgetvalue(res, i, 1)[0] == 't';
				if (s->kind != CHAN_ADMIN && !all)
					continue;
				if (!evs[i]) {
					size_t len = (size_t)PQgetlength(res, i, 2);
					evs[i] = hub_event_new(HEV_MSG, c->node.id, seq,
					                       xstrndup(PQgetvalue(res, i, 2), len), len, 0);
					evs[i]->aud_all = (uint8_t)all;
				}
				metrics.replayed_rows_total++;
				deliver(s, evs[i]);
			}
			s->in_query = 0;
			if (stopped)
				s->paused = 1;
			else if (n < HUB_REPLAY_PAGE)
				sub_replay_finished(s);
		}
		next = c->iter_next;
	}
	c->iter_next = NULL;
	for (int i = 0; i < n; i++)
		hub_event_unref(evs[i]);
	free(evs);
	if (!c->subs) {
		chan_maybe_free(c);
		return;
	}
	replay_kick(c);
}

/* Start a replay for the channel's authorised subscribers that want one. */
static void replay_kick(struct hub_chan *c)
{
	if (c->query_running)
		return;
	int64_t from = INT64_MAX;
	for (struct sub *s = c->subs; s; s = s->next) {
		if (s->active && s->cur.replaying && !s->in_query && !s->paused && s->cur.last < from)
			from = s->cur.last;
	}
	if (from == INT64_MAX)
		return;
	for (struct sub *s = c->subs; s; s = s->next)
		if (s->active && s->cur.replaying && !s->paused)
			s->in_query = 1;
	c->query_running = 1;
	c->retry = 0;
	char d[24], f[24];
	snprintf(d, sizeof(d), "%lld", (long long)c->node.id);
	snprintf(f, sizeof(f), "%lld", (long long)from);
	const char *params[2] = { d, f };
	pgfeed_query(replay_sql, 2, params, PGJOB_RETRY, replay_done, c);
}

static void janitor_cb(void *data)
{
	if (!need_janitor)
		return;
	need_janitor = 0;
	IDMAP_EACH(&chans, n)
		if (CHAN(n)->retry)
			replay_kick(CHAN(n));
}

void hub_resync(void)
{
	IDMAP_EACH(&chans, n) {
		struct hub_chan *c = CHAN(n);
		for (struct sub *s = c->subs; s; s = s->next)
			if (s->active)
				cursor_replay_begin(&s->cur);
		replay_kick(c);
	}
}

/* ---- inbox -------------------------------------------------------------------- */

static void inbox_drain(void)
{
	while (ib_head && ib_head->ready) {
		struct inbox_item *it = ib_head;
		ib_head = it->next;
		if (!ib_head)
			ib_tail = NULL;
		if (it->ev) {
			for (struct sub *s = inbox_subs, *next; s; s = next) {
				inbox_iter_next = s->next;
				if (s->active)
					deliver(s, it->ev);
				next = inbox_iter_next;
			}
			inbox_iter_next = NULL;
			hub_event_unref(it->ev);
		}
		free(it);
	}
}

static struct inbox_item *inbox_push(struct hub_event *ev)
{
	struct inbox_item *it = xcalloc(1, sizeof(*it));
	it->ev = ev;
	it->ready = ev != NULL;
	if (ev)
		ev->refs++;
	if (ib_tail)
		ib_tail->next = it;
	else
		ib_head = it;
	ib_tail = it;
	return it;
}

static void inbox_query_done(void *arg, PGresult *res)
{
	struct inbox_item *it = arg;
	it->ready = 1;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		size_t len = (size_t)PQgetlength(res, 0, 0);
		it->ev = hub_event_new(HEV_INBOX, 0, 0, xstrndup(PQgetvalue(res, 0, 0), len), len, 0);
	}
	inbox_drain();
}

static void inbox_fetch(const char *sql, int64_t dialog_id, const char *second)
{
	struct inbox_item *it = inbox_push(NULL);
	char d[24];
	snprintf(d, sizeof(d), "%lld", (long long)dialog_id);
	const char *params[2] = { d, second };
	pgfeed_query(sql, 2, params, PGJOB_RETRY, inbox_query_done, it);
}

/* ---- notifications ------------------------------------------------------------ */

static int get_i64(const cJSON *o, const char *k, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

static const char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_msg(const cJSON *o, int64_t dialog, int64_t t)
{
	int64_t seq;
	const char *aud = get_str(o, "aud");
	if (get_i64(o, "seq", &seq) != 0 || seq < 1 || !aud) {
		metrics.notifications_bad_total++;
		return;
	}
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "msg");
	char *json = cJSON_IsObject(msg) ? cJSON_PrintUnformatted(msg) : NULL;
	struct hub_event *ev = hub_event_new(HEV_MSG, dialog, seq, json, json ? strlen(json) : 0, t);
	ev->aud_all = strcmp(aud, "all") == 0;

	struct hub_chan *c = chan_find(dialog);
	if (c) {
		int want_replay = 0;
		for (struct sub *s = c->subs, *next; s; s = next) {
			c->iter_next = s->next;
			if (s->next && s->next->next)
				sub_prefetch(s->next->next); /* s->next: asked for one round ago */
			want_replay |= sub_live(s, ev);
			next = c->iter_next;
		}
		c->iter_next = NULL;
		if (want_replay)
			replay_kick(c);
	}
	if (ninbox) {
		if (json) {
			inbox_push(ev);
			inbox_drain();
		} else {
			char sq[24];
			snprintf(sq, sizeof(sq), "%lld", (long long)seq);
			inbox_fetch(message_sql, dialog, sq);
		}
	}
	hub_event_unref(ev);
}

static void on_typing(const cJSON *o, int64_t dialog, int64_t t)
{
	const char *who = get_str(o, "who"), *state = get_str(o, "state");
	if (!who || !state || (strcmp(state, "start") && strcmp(state, "stop")) ||
	    (strcmp(who, "user") && strcmp(who, "ai") && strcmp(who, "manager"))) {
		metrics.notifications_bad_total++;
		return;
	}
	struct hub_chan *c = chan_find(dialog);
	if (!c)
		return;
	char *json = xasprintf("{\"type\":\"typing_%s\",\"dialog_id\":%lld,\"who\":\"%s\"}", state,
	                       (long long)dialog, who);
	struct hub_event *ev = hub_event_new(HEV_TYPING, dialog, 0, json, strlen(json), t);
	int user = strcmp(who, "user") == 0;
	for (struct sub *s = c->subs, *next; s; s = next) {
		c->iter_next = s->next;
		if (s->active && ((s->kind == CHAN_ADMIN) == user))
			deliver(s, ev);
		next = c->iter_next;
	}
	c->iter_next = NULL;
	hub_event_unref(ev);
}

void hub_notify(const char *payload, size_t len, int64_t t_recv_us)
{
	metrics.notifications_total++;
	cJSON *o = cJSON_ParseWithLength(payload, len);
	const char *k = o ? get_str(o, "k") : NULL;
	int64_t dialog = 0;
	if (!k) {
		metrics.notifications_bad_total++;
		goto out;
	}
	if (strcmp(k, "revoke") == 0) {
		int64_t sid;
		if (get_i64(o, "session_id", &sid) == 0)
			hops->revoke(sid);
		else
			metrics.notifications_bad_total++;
		goto out;
	}
	if (get_i64(o, "dialog_id", &dialog) != 0 || dialog < 1) {
		metrics.notifications_bad_total++;
		goto out;
	}
	if (strcmp(k, "msg") == 0) {
		on_msg(o, dialog, t_recv_us);
	} else if (strcmp(k, "typing") == 0) {
		on_typing(o, dialog, t_recv_us);
	} else if (strcmp(k, "dialog") == 0) {
		const char *kind = get_str(o, "kind");
		if (kind && (strcmp(kind, "dialog_created") == 0 || strcmp(kind, "dialog_updated") == 0)) {
			if (ninbox)
				inbox_fetch(dialog_sql, dialog, kind);
		} else {
			metrics.notifications_bad_total++;
		}
	} else {
		metrics.notifications_bad_total++;
	}
out:
	cJSON_Delete(o);
}

void hub_init(const struct hub_ops *ops)
{
	hops = ops;
	loop_timer_init(&janitor, janitor_cb, NULL);
	loop_timer_again(&janitor, 1.0);
}

void hub_shutdown(void)
{
	loop_timer_stop(&janitor);
	while (ib_head) {
		struct inbox_item *it = ib_head;
		ib_head = it->next;
		hub_event_unref(it->ev);
		free(it);
	}
	ib_tail = NULL;
	for (struct idmap_node *n; (n = idmap_take_any(&chans));)
		free(CHAN(n));
	idmap_free(&chans);
}
