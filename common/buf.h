/* SPDX-License-Identifier: MIT */
/*
 * buf: the one growable byte buffer of the tree (REST answers, the notifier's /metrics,
 * the AI worker's HTTP bodies, chatai-ctl's file reads). Allocation failures abort
 * (xrealloc), so appending cannot fail. A zeroed struct is an empty buffer.
 */
#ifndef CHATAI_COMMON_BUF_H
#define CHATAI_COMMON_BUF_H

#include <stddef.h>
#include "util.h"

/* A growable byte buffer, always NUL-terminated once something was added. */
struct buf {
	char *p;    /* xmalloc'd or NULL */
	size_t len; /* bytes used, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
};

void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) CHATAI_PRINTF(2, 3);
void buf_free(struct buf *b);

#endif
