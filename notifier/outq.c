/* SPDX-License-Identifier: MIT */
/* outq: reference-counted output buffers and the per-connection queue (see outq.h). */
#include "autoconfig.h"
#include "outq.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdlib.h>

struct obuf *obuf_alloc(size_t len, int64_t t_recv_us)
{
	struct obuf *b = xmalloc(sizeof(*b) + len);
	b->refs = 1;
	b->len = (uint32_t)len;
	b->t_recv_us = t_recv_us;
	return b;
}

struct obuf *obuf_new(const void *data, size_t len, int64_t t_recv_us)
{
	struct obuf *b = obuf_alloc(len, t_recv_us);
	if (len)
		memcpy(b->data, data, len);
	return b;
}

struct obuf *obuf_ref(struct obuf *b)
{
	b->refs++;
	return b;
}

void obuf_unref(struct obuf *b)
{
	if (b && --b->refs == 0)
		free(b);
}

int outq_empty(const struct outq *q)
{
	return q->count == 0;
}

static void outq_release_array(struct outq *q)
{
	free(q->items);
	q->items = NULL;
	q->head = q->count = q->cap = 0;
	q->bytes = 0;
}

void outq_push(struct outq *q, struct obuf *b)
{
	if (q->count == q->cap) {
		uint32_t ncap = q->cap ? q->cap * 2 : 4;
		struct outq_item *n = xmalloc(ncap * sizeof(*n));
		for (uint32_t i = 0; i < q->count; i++)
			n[i] = q->items[(q->head + i) % q->cap];
		free(q->items);
		q->items = n;
		q->head = 0;
		q->cap = ncap;
	}
	struct outq_item *it = &q->items[(q->head + q->count) % q->cap];
	it->b = obuf_ref(b);
	it->off = 0;
	q->count++;
	q->bytes += b->len;
}

void outq_push_from(struct outq *q, struct obuf *b, uint32_t off)
{
	outq_push(q, b);
	q->items[(q->head + q->count - 1) % q->cap].off = off;
	q->bytes -= off;
}

void outq_push_copy(struct outq *q, const void *data, size_t len)
{
	struct obuf *b = obuf_new(data, len, 0);
	outq_push(q, b);
	obuf_unref(b);
}

void outq_drop_unstarted(struct outq *q)
{
	uint32_t keep = 0;
	if (q->count && q->items[q->head].off > 0)
		keep = 1;
	while (q->count > keep) {
		struct outq_item *it = &q->items[(q->head + q->count - 1) % q->cap];
		q->bytes -= it->b->len - it->off;
		obuf_unref(it->b);
		q->count--;
	}
	if (q->count == 0)
		outq_release_array(q);
}

void outq_clear(struct outq *q)
{
	for (uint32_t i = 0; i < q->count; i++)
		obuf_unref(q->items[(q->head + i) % q->cap].b);
	outq_release_array(q);
}

ssize_t outq_flush(struct outq *q, int fd, void (*done)(void *arg, const struct obuf *b), void *arg)
{
	struct iovec iov[OUTQ_IOV];
	size_t total = 0;

	while (q->count) {
		int n = 0;
		for (uint32_t i = 0; i < q->count && n < OUTQ_IOV; i++, n++) {
			struct outq_item *it = &q->items[(q->head + i) % q->cap];
			iov[n].iov_base = it->b->data + it->off;
			iov[n].iov_len = it->b->len - it->off;
		}
		size_t want = 0;
		for (int i = 0; i < n; i++)
			want += iov[i].iov_len;
		/* One buffer (the common case: one event to one subscriber): send() skips
		 * the VFS layer of writev() (file position lock, fsnotify). */
		ssize_t w = n == 1 ? send(fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL)
		                   : writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return CHATAI_AGAIN;
			return CHATAI_ERR;
		}
		total += (size_t)w;
		q->bytes -= (size_t)w;
		size_t left = (size_t)w;
		while (left && q->count) {
			struct outq_item *it = &q->items[q->head];
			size_t rem = it->b->len - it->off;
			if (left < rem) {
				it->off += (uint32_t)left;
				left = 0;
				break;
			}
			left -= rem;
			if (done)
				done(arg, it->b);
			obuf_unref(it->b);
			q->head = (q->head + 1) % q->cap;
			q->count--;
		}
		/* Zero-length items finish without bytes. */
		while (q->count && q->items[q->head].b->len == q->items[q->head].off) {
			if (done)
				done(arg, q->items[q->head].b);
			obuf_unref(q->items[q->head].b);
			q->head = (q->head + 1) % q->cap;
			q->count--;
		}
		if (q->count && (size_t)w < want)
			return CHATAI_AGAIN;
	}
	outq_release_array(q);
	return (ssize_t)total;
}
