/* SPDX-License-Identifier: MIT */
/*
 * postbatch: visitor messages stored in batches (flat combining).
 *
 * Every transaction that sends a NOTIFY takes one database-wide lock at commit, so
 * such commits run one after another however many links post at once; past a few
 * concurrent posts they mostly wait for each other. Here the visitor posts of one
 * process that arrive while a batch is being stored queue up, and the next request to
 * find no batch running stores the whole queue with ONE statement in ONE transaction
 * (chatai_rest_visitor_post_batch(), sql/004_rest.sql) on its own link, then
 * hands every waiting request its result. Alone, a post is stored at once: no timer,
 * no added delay.
 *
 * Each item keeps the contract of chatai_rest_visitor_post(): its own seq, client_id
 * idempotency, 404 for a missing dialog, 409 for a closed one. When a batch fails for
 * any other reason its items are stored one by one, so one bad item fails only itself.
 */
#ifndef CHATAI_FCGI_POSTBATCH_H
#define CHATAI_FCGI_POSTBATCH_H

#include <stdint.h>
#include "db.h"

struct post_result {
	enum db_status status; /* DB_OK: message and created are set */
	char sqlstate[6];      /* DB_QUERY: P0002, CA409 or what the server said */
	char errmsg[256];
	char *message;         /* the message JSON (owned) */
	int created;           /* 1: stored now; 0: the client_id was known */
};

struct req;

/* Store one visitor message for request r (client_id may be NULL). Blocks until stored.
 * While it waits for another request to store it, r gives its database link back to
 * the pool and its place among the requests in flight (so that more posts can gather
 * in the next batch): r->db may be NULL, or another link, on return. */
void postbatch_visitor(struct req *r, int64_t dialog_id, const char *text, const char *client_id,
                       struct post_result *out);

/* The most items one batch stores (default 32), how many batches may be stored at once
 * (one batch keeps one PostgreSQL core busy; default 2), and how a waiting request gives back
 * and takes again its place in flight (NULL: nothing to give back). */
void postbatch_init(int max_batch, int leaders, void (*slot_release)(void), void (*slot_take)(void));

#endif
