/* SPDX-License-Identifier: MIT */
/*
 * postbatch: visitor messages stored in batches (flat combining).
 *
 * Every transaction that sends a NOTIFY takes one database-wide lock at commit, so
 * such commits run one after another however many links post at once; past a few
 * concurrent posts they mostly wait for each other. Here the visitor posts of one
 * process that arrive while a batch is being stored queue up, and the next request to
 * find no batch running stores the whole queue with ONE statement in ONE transaction
 * (chatai_rest_visitor_post_batch(), sql/005_rest_speed.sql) on its own link, then
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

/* Store one visitor message (text and client_id are copied as needed; client_id may be
 * NULL). Blocks until stored. */
void postbatch_visitor(struct db *db, int64_t dialog_id, const char *text, const char *client_id,
                       struct post_result *out);

/* The most items one batch stores (default 32). */
void postbatch_init(int max_batch);

#endif
