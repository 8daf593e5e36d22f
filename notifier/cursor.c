/* SPDX-License-Identifier: MIT */
/* cursor: the replay/live merge rule (see cursor.h). */
#include "autoconfig.h"
#include "cursor.h"

void cursor_init(struct cursor *c, int64_t last, int replaying)
{
	c->last = last < 0 ? 0 : last;
	c->replaying = replaying;
}

enum cursor_verdict cursor_live(struct cursor *c, int64_t seq)
{
	if (c->replaying)
		return seq <= c->last ? CURSOR_DROP : CURSOR_HOLD;
	if (seq <= c->last)
		return CURSOR_DROP;
	if (seq == c->last + 1) {
		c->last = seq;
		return CURSOR_DELIVER;
	}
	return CURSOR_GAP;
}

enum cursor_verdict cursor_replayed(struct cursor *c, int64_t seq)
{
	if (seq <= c->last)
		return CURSOR_DROP;
	c->last = seq;
	return CURSOR_DELIVER;
}

void cursor_replay_begin(struct cursor *c)
{
	c->replaying = 1;
}

void cursor_replay_end(struct cursor *c)
{
	c->replaying = 0;
}
