/* SPDX-License-Identifier: MIT */
/*
 * outq: the outgoing side of a connection, without the loop.
 *
 * An obuf is an immutable, reference-counted run of bytes. One event fanned out to ten
 * thousand subscribers is encoded once per transport and every connection's queue holds
 * a reference to the same obuf (server WebSocket frames are unmasked, so the bytes are
 * the same for everyone). The queue owns one reference per item and drops it when the
 * item has been written out, skipped by outq_drop_unstarted() or cleared.
 *
 * outq_flush() writes as much as the socket takes with ONE writev() of up to
 * OUTQ_IOV items (send() when one item is left: the socket path without the VFS layer)
 * and reports the items finished, so the caller can observe latency.
 * The item array is allocated on first use and freed when the queue drains: an idle
 * connection costs no queue memory.
 */
#ifndef CHATAI_OUTQ_H
#define CHATAI_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util.h"

#define OUTQ_IOV 64

struct obuf {
	uint32_t refs;     /* owners: queues plus whoever built it */
	uint32_t len;      /* bytes in data */
	int64_t t_recv_us; /* when the source notification was read (0: not an event) */
	char data[];       /* the bytes as they go on the wire */
};

struct obuf *obuf_new(const void *data, size_t len, int64_t t_recv_us);
/* An obuf of len bytes to fill in (data uninitialised). */
struct obuf *obuf_alloc(size_t len, int64_t t_recv_us);
struct obuf *obuf_ref(struct obuf *b);
void obuf_unref(struct obuf *b);

struct outq_item {
	struct obuf *b; /* owned reference */
	uint32_t off;   /* bytes of b already written */
};

struct outq {
	struct outq_item *items; /* ring, NULL while empty */
	uint32_t head;           /* first item */
	uint32_t count;          /* items queued */
	uint32_t cap;            /* slots in items */
	size_t bytes;            /* bytes still to write */
};

/* Append a reference to b (takes a new reference; the caller keeps its own). */
void outq_push(struct outq *q, struct obuf *b);
/* Append a reference to b of which the first off bytes are already written (a direct
 * send the socket took only part of). */
void outq_push_from(struct outq *q, struct obuf *b, uint32_t off);
/* Copy bytes into a fresh private obuf and append it. */
void outq_push_copy(struct outq *q, const void *data, size_t len);
/* Drop every item not yet started (the first may be half written: it stays). */
void outq_drop_unstarted(struct outq *q);
void outq_clear(struct outq *q);
int outq_empty(const struct outq *q);

/*
 * Write what the fd takes. done(arg, b) is called for each item finished (may be NULL).
 * Returns bytes written (>= 0) when the queue is now empty, CHATAI_AGAIN when bytes
 * remain (socket full), CHATAI_ERR on a write error (errno set).
 */
ssize_t outq_flush(struct outq *q, int fd, void (*done)(void *arg, const struct obuf *b),
                   void *arg) CHATAI_WUR;

#endif
