/* SPDX-License-Identifier: MIT */
/*
 * kb: the knowledge-base provider. Full-text search over the assistant's knowledge rows
 * (SQL function chatai_kb_search of sql/005_ai.sql: websearch_to_tsquery with the
 * assistant's ts_config, ts_rank_cd, OR-semantics fallback, match_threshold).
 */
#ifndef CHATAI_AI_KB_H
#define CHATAI_AI_KB_H

#include <stddef.h>
#include <stdint.h>
#include "db.h"
#include "util.h"

struct kb_entry {
	int64_t id;
	char *question; /* owned */
	char *answer;   /* owned */
	double score;   /* ts_rank_cd normalised, >= the assistant's match_threshold */
};

/*
 * The best (at most limit) entries of assistant for question q, best first. 0 with
 * *out and *n (possibly none: *n = 0), or -1 on a database failure (db->status says which).
 */
int kb_search(struct db *db, int64_t assistant, const char *q, int limit,
              struct kb_entry **out, size_t *n) CHATAI_WUR;
void kb_entries_free(struct kb_entry *e, size_t n);

/*
 * The knowledge-base answer to several questions asked in a row: the best entry of each
 * question, in the order asked, the same entry once, joined by blank lines. NULL when no
 * question matched (or on a database failure: then *failed_db = 1).
 */
char *kb_answer(struct db *db, int64_t assistant, const char *const *questions, size_t n,
                int *failed_db);
/* kb_answer(), and *first_id: the entry of the first question that matched (0: none). */
char *kb_answer_from(struct db *db, int64_t assistant, const char *const *questions, size_t n,
                     int *failed_db, int64_t *first_id);

#endif
