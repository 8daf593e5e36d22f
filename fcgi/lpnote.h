/* SPDX-License-Identifier: MIT */
/*
 * lpnote: which waiting long-poll a notification of channel `chatai` wakes, and the
 * ring of recent notifications that wakes a request parked after its news arrived
 * (longpoll.h has the design). Pure: no threads, no I/O; unit tested.
 */
#ifndef CHATAI_FCGI_LPNOTE_H
#define CHATAI_FCGI_LPNOTE_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include "longpoll.h"

enum lp_note_kind {
	LP_NOTE_NONE = 0,
	LP_NOTE_MSG,    /* a message was stored (dialog_id, aud_all) */
	LP_NOTE_DIALOG, /* a dialog changed (dialog_id) */
	LP_NOTE_ALL,    /* anything may have changed (the LISTEN link came back) */
};

struct lp_note {
	uint64_t gen;          /* set by lp_ring_add */
	int64_t dialog_id;
	unsigned char kind;    /* enum lp_note_kind */
	unsigned char aud_all; /* a message for every audience (aud "all") */
};

#define LP_RING 1024

/* The last LP_RING notifications, by generation (1, 2, ...). Zeroed: empty. */
struct lp_ring {
	struct lp_note n[LP_RING];
	uint64_t gen; /* the last generation given */
};

/* A parsed payload of channel `chatai` as a note: 0, or -1 for events that wake nobody
 * (typing, cache events, anything unknown). */
int lp_note_from_json(const cJSON *o, struct lp_note *n);
/* Does n wake a request waiting for q? */
int lp_note_matches(const struct lp_query *q, const struct lp_note *n);
/* Remember n as the next generation (n->gen is set). */
void lp_ring_add(struct lp_ring *r, struct lp_note *n);
/* Did a request that read generation `since` miss a note matching q? (Also 1 when the
 * ring no longer reaches back that far.) */
int lp_ring_missed(const struct lp_ring *r, const struct lp_query *q, uint64_t since);

#endif
