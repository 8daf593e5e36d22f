/* SPDX-License-Identifier: MIT */
/*
 * cursor: the replay/live merge rule of one subscriber, a pure state machine.
 *
 * A subscriber's position is the highest dialog seq it has accounted for: delivered, or
 * passed over because its channel's audience does not include it (a visitor's own
 * messages on the site channel). Message events arrive from two sources: the live
 * NOTIFY stream and replay queries on the messages table. The rule that gives "no gap,
 * no duplicate":
 *
 *   - while a replay runs, live events are held (the caller buffers them);
 *   - a live or replayed seq <= last is a duplicate: dropped;
 *   - seq == last + 1 is next: delivered (or passed over), last = seq;
 *   - a live seq > last + 1 reveals a gap (missed NOTIFY, database link lost): the caller
 *     starts a catch-up replay from last and holds the event;
 *   - replay rows come in seq order from the table, so every row > last is next.
 * When the replay ends, the held events are run through cursor_live() again in order.
 */
#ifndef CHATAI_CURSOR_H
#define CHATAI_CURSOR_H

#include <stdint.h>

enum cursor_verdict {
	CURSOR_DELIVER = 0, /* next in order: deliver (if in audience), last advanced */
	CURSOR_DROP,        /* already accounted for */
	CURSOR_HOLD,        /* a replay runs: keep it for later */
	CURSOR_GAP,         /* missing seqs before it: replay from last, keep it */
};

struct cursor {
	int64_t last;      /* highest seq accounted for */
	int replaying;     /* a replay is wanted or running */
};

void cursor_init(struct cursor *c, int64_t last, int replaying);
enum cursor_verdict cursor_live(struct cursor *c, int64_t seq);
/* A row of a replay (any seq): DELIVER (last advanced to seq) or DROP. */
enum cursor_verdict cursor_replayed(struct cursor *c, int64_t seq);
/* A replay is starting / has ended (held events are then re-run via cursor_live). */
void cursor_replay_begin(struct cursor *c);
void cursor_replay_end(struct cursor *c);

#endif
