/* SPDX-License-Identifier: MIT */
/*
 * inboxcursor: the opaque inbox cursor of GET /api/inbox (docs/internals.md, "Inbox cursor").
 *
 * A cursor names what the client has seen: every inbox event of a transaction whose
 * xid is below `lo`, plus those in [lo, hi) with an id up to `after_id` (a page cut
 * short by the size limit). A complete read gives lo == hi, after_id == 0 and encodes
 * as base64url("v1:<lo>"); a partial one as base64url("v1:<lo>:<hi>:<after_id>").
 * Pure: unit tested and fuzzed.
 */
#ifndef CHATAI_FCGI_INBOXCURSOR_H
#define CHATAI_FCGI_INBOXCURSOR_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct inbox_cursor {
	int64_t lo;       /* every xid below lo has been read */
	int64_t hi;       /* xids in [lo, hi) read up to after_id */
	int64_t after_id; /* inbox_events.id */
};

#define INBOX_CURSOR_MAX 128

/* Encode into out (INBOX_CURSOR_MAX bytes). */
void inbox_cursor_encode(const struct inbox_cursor *c, char out[INBOX_CURSOR_MAX]);
/* Decode; 0 or -1 when the text is not a cursor of ours. */
int inbox_cursor_decode(const char *s, struct inbox_cursor *c) CHATAI_WUR;


#endif
