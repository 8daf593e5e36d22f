/* SPDX-License-Identifier: MIT */
/* lpnote: notifications against waiting long-polls (see lpnote.h). */
#include "autoconfig.h"
#include "lpnote.h"

#include <string.h>

int lp_note_from_json(const cJSON *o, struct lp_note *n)
{
	memset(n, 0, sizeof *n);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "k");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dialog_id");
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(o, "aud");
	if (!cJSON_IsString(k) || !cJSON_IsNumber(d))
		return -1;
	n->dialog_id = (int64_t)d->valuedouble;
	if (strcmp(k->valuestring, "msg") == 0) {
		n->kind = LP_NOTE_MSG;
		n->aud_all = cJSON_IsString(aud) && strcmp(aud->valuestring, "all") == 0;
		return 0;
	}
	if (strcmp(k->valuestring, "dialog") == 0) {
		n->kind = LP_NOTE_DIALOG;
		return 0;
	}
	return -1;
}

int lp_note_matches(const struct lp_query *q, const struct lp_note *n)
{
	if (n->kind == LP_NOTE_ALL)
		return 1;
	if (q->dialog_id == 0)
		return n->kind == LP_NOTE_MSG || n->kind == LP_NOTE_DIALOG;
	if (n->kind != LP_NOTE_MSG || n->dialog_id != q->dialog_id)
		return 0;
	return q->every_audience || n->aud_all;
}

void lp_ring_add(struct lp_ring *r, struct lp_note *n)
{
	n->gen = ++r->gen;
	r->n[n->gen % LP_RING] = *n;
}

int lp_ring_missed(const struct lp_ring *r, const struct lp_query *q, uint64_t since)
{
	if (r->gen - since >= LP_RING)
		return 1;
	for (uint64_t g = since + 1; g <= r->gen; g++) {
		const struct lp_note *n = &r->n[g % LP_RING];
		if (n->gen == g && lp_note_matches(q, n))
			return 1;
	}
	return 0;
}
