/* SPDX-License-Identifier: MIT */
/* postbatch: visitor messages stored in batches (see postbatch.h). */
#include "autoconfig.h"
#include "postbatch.h"
#include "dbpool.h"
#include "request.h"
#include "json.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	struct item *next;
	int64_t dialog_id;
	const char *text;
	const char *client_id;
	struct post_result *out;
	int done;
	pthread_cond_t cv;  /* its thread waits here: for its answer, or to store the queue */
};

/*
 * Every wake-up names its thread: a stored item's, and the one at the head of the queue
 * when a storing place frees. One condition variable for all, broadcast after each batch,
 * woke every waiting thread (32 at 32 connections) to find most of them still waiting:
 * more time went in those wake-ups and the mutex they fought over than in the posts.
 */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct item *queue_head, **queue_tail = &queue_head;
static int storing;     /* batches being stored now */
static int max_storing = 2; /* at once: one batch runs on one PostgreSQL core */
static int max_batch = 32;
static void (*slot_release)(void), (*slot_take)(void);

void postbatch_init(int n, int leaders, void (*release)(void), void (*take)(void))
{
	max_batch = n < 1 ? 1 : n > 256 ? 256 : n;
	max_storing = leaders < 1 ? 1 : leaders;
	slot_release = release;
	slot_take = take;
}

static void result_from_db(struct post_result *o, const struct db *db)
{
	o->status = db->status == DB_OK ? DB_QUERY : db->status;
	snprintf(o->sqlstate, sizeof o->sqlstate, "%s", db->sqlstate);
	snprintf(o->errmsg, sizeof o->errmsg, "%s", db->errmsg);
}

/* One item on its own: chatai_rest_visitor_post(). */
static void store_one(struct db *db, struct item *it)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)it->dialog_id);
	const char *p[3] = { id, it->text, it->client_id };
	PGresult *res = db_exec(db, "SELECT message::text, created FROM chatai_rest_visitor_post($1::bigint, $2, $3)", 3, p);
	struct post_result *o = it->out;
	if (!res || PQntuples(res) != 1) {
		if (res)
			PQclear(res);
		result_from_db(o, db);
		return;
	}
	o->status = DB_OK;
	o->message = xstrdup(PQgetvalue(res, 0, 0));
	o->created = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
}

/* A list of items with one statement; 0, or -1 when the batch as a whole failed
 * (nothing was stored: it ran in one transaction). */
static int store_batch(struct db *db, struct item *list, int n)
{
	cJSON *arr = cJSON_CreateArray();
	for (struct item *it = list; it; it = it->next) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "d", (double)it->dialog_id);
		cJSON_AddStringToObject(o, "t", it->text);
		if (it->client_id)
			cJSON_AddStringToObject(o, "c", it->client_id);
		else
			cJSON_AddNullToObject(o, "c");
		cJSON_AddItemToArray(arr, o);
	}
	char *json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	const char *p[1] = { json };
	PGresult *res = db_exec(db, "SELECT ord, code, message, created FROM chatai_rest_visitor_post_batch($1::jsonb)", 1, p);
	cJSON_free(json);
	if (!res)
		return -1;
	struct item **by_ord = xcalloc((size_t)n, sizeof *by_ord);
	int k = 0;
	for (struct item *it = list; it; it = it->next)
		by_ord[k++] = it;
	int rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		long ord = strtol(PQgetvalue(res, i, 0), NULL, 10);
		if (ord < 1 || ord > n)
			continue;
		struct post_result *o = by_ord[ord - 1]->out;
		const char *code = PQgetvalue(res, i, 1);
		if (strcmp(code, "ok") == 0) {
			o->status = DB_OK;
			o->message = xstrdup(PQgetvalue(res, i, 2));
			o->created = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		} else {
			o->status = DB_QUERY;
			snprintf(o->sqlstate, sizeof o->sqlstate, "%s", code);
		}
		by_ord[ord - 1] = NULL;
	}
	PQclear(res);
	/* Every item answered exactly once: anything else is a server-side surprise. */
	for (int i = 0; i < n; i++)
		if (by_ord[i]) {
			by_ord[i]->out->status = DB_QUERY;
			snprintf(by_ord[i]->out->sqlstate, sizeof by_ord[i]->out->sqlstate, "XX000");
			snprintf(by_ord[i]->out->errmsg, sizeof by_ord[i]->out->errmsg, "the batch gave no result for this item");
		}
	free(by_ord);
	return 0;
}

/* mu held: if a storing place is free and items wait, wake the thread at the queue's head
 * to store them (it may find its item taken by a newer thread: it then waits again). */
static void wake_next_leader(void)
{
	if (storing < max_storing && queue_head)
		pthread_cond_signal(&queue_head->cv);
}

/* The items of a stored batch are answered: wake their threads, but the caller's own. */
static void batch_done(struct item *list, const struct item *self)
{
	pthread_mutex_lock(&mu);
	for (struct item *it = list, *next; it; it = next) {
		next = it->next;
		it->done = 1;
		if (it != self)
			pthread_cond_signal(&it->cv);
	}
	storing--;
	wake_next_leader();
	pthread_mutex_unlock(&mu);
}

/* Store a batch taken from the queue with r's link (taken now if it was given back). */
static void batch_store(struct req *r, struct item *list, int n)
{
	if (!r->db)
		r->db = dbpool_get();
	struct db *db = r->db;
	if (!db) {
		for (struct item *it = list; it; it = it->next) {
			it->out->status = DB_DOWN;
			snprintf(it->out->errmsg, sizeof it->out->errmsg, "no database link came free");
		}
	} else if (n == 1) {
		store_one(db, list);
	} else if (store_batch(db, list, n) < 0) {
		if (db->status == DB_DOWN) {
			for (struct item *it = list; it; it = it->next)
				result_from_db(it->out, db);
		} else {
			log_warn("visitor posts: a batch of %d failed (%s %s): storing them one by one", n, db->sqlstate,
			         db->errmsg);
			for (struct item *it = list; it; it = it->next)
				store_one(db, it);
		}
	}
}

/* mu held: take up to max_batch items from the queue's head. */
static struct item *queue_take(int *n)
{
	struct item *list = queue_head, *last = list;
	*n = 1;
	while (last->next && *n < max_batch) {
		last = last->next;
		(*n)++;
	}
	queue_head = last->next;
	if (!queue_head)
		queue_tail = &queue_head;
	last->next = NULL;
	return list;
}

void postbatch_visitor(struct req *r, int64_t dialog_id, const char *text, const char *client_id,
                       struct post_result *out)
{
	memset(out, 0, sizeof *out);
	struct item me = { .dialog_id = dialog_id, .text = text, .client_id = client_id, .out = out };
	pthread_cond_init(&me.cv, NULL);
	int gave_back = 0;
	pthread_mutex_lock(&mu);
	*queue_tail = &me;
	queue_tail = &me.next;
	while (!me.done) {
		if (storing >= max_storing || !queue_head) {
			if (!gave_back && slot_release) {
				/* Waiting needs no link: let the next requests in meanwhile. */
				gave_back = 1;
				pthread_mutex_unlock(&mu);
				dbpool_put(r->db);
				r->db = NULL;
				slot_release();
				pthread_mutex_lock(&mu);
				continue;
			}
			pthread_cond_wait(&me.cv, &mu);
			continue;
		}
		/* A free storing place: take the queue (up to max_batch) and store it. */
		storing++;
		int n;
		struct item *list = queue_take(&n);
		wake_next_leader(); /* the other storing place, if it is free and items are left */
		pthread_mutex_unlock(&mu);
		batch_store(r, list, n);
		batch_done(list, &me);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&me.cv);
	if (gave_back)
		slot_take();
}
