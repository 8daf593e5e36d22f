/* SPDX-License-Identifier: MIT */
/* kb: knowledge-base answers from PostgreSQL full-text search. */
#include "autoconfig.h"
#include "kb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kb_search(struct db *db, int64_t assistant, const char *q, int limit,
              struct kb_entry **out, size_t *n)
{
	char a[24], l[16];
	snprintf(a, sizeof a, "%" PRId64, assistant);
	snprintf(l, sizeof l, "%d", limit);
	const char *params[] = { a, q, l };
	*out = NULL;
	*n = 0;
	PGresult *res = db_exec(db, "SELECT id, question, answer, score FROM chatai_kb_search($1, $2, $3)",
	                        3, params);
	if (!res)
		return -1;
	int rows = PQntuples(res);
	if (rows > 0) {
		struct kb_entry *e = xcalloc((size_t)rows, sizeof *e);
		for (int i = 0; i < rows; i++) {
			e[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			e[i].question = xstrdup(PQgetvalue(res, i, 1));
			e[i].answer = xstrdup(PQgetvalue(res, i, 2));
			e[i].score = strtod(PQgetvalue(res, i, 3), NULL);
		}
		*out = e;
		*n = (size_t)rows;
	}
	PQclear(res);
	return 0;
}

void kb_entries_free(struct kb_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].question);
		free(e[i].answer);
	}
	free(e);
}

char *kb_answer(struct db *db, int64_t assistant, const char *const *questions, size_t n,
                int *failed_db)
{
	int64_t first;
	return kb_answer_from(db, assistant, questions, n, failed_db, &first);
}

char *kb_answer_from(struct db *db, int64_t assistant, const char *const *questions, size_t n,
                     int *failed_db, int64_t *first_id)
{
	char *out = NULL;
	size_t len = 0;
	int64_t *used = xcalloc(n ? n : 1, sizeof *used);
	size_t nused = 0;

	*failed_db = 0;
	*first_id = 0;
	for (size_t i = 0; i < n; i++) {
		struct kb_entry *e = NULL;
		size_t ne = 0;
		if (kb_search(db, assistant, questions[i], 1, &e, &ne) < 0) {
			*failed_db = 1;
			free(out);
			out = NULL;
			break;
		}
		if (ne == 0)
			continue;
		int seen = 0;
		for (size_t k = 0; k < nused; k++)
			seen |= used[k] == e[0].id;
		if (!seen) {
			if (nused == 0)
				*first_id = e[0].id;
			used[nused++] = e[0].id;
			size_t al = strlen(e[0].answer);
			out = xrealloc(out, len + al + 3);
			if (len > 0) {
				memcpy(out + len, "\n\n", 2);
				len += 2;
			}
			memcpy(out + len, e[0].answer, al + 1);
			len += al;
		}
		kb_entries_free(e, ne);
	}
	free(used);
	return out;
}
