/* SPDX-License-Identifier: MIT */
/* lpheap: a binary min-heap of times (see lpheap.h). */
#include "autoconfig.h"
#include "lpheap.h"
#include "util.h"

#include <stdlib.h>

static void put(struct lp_heap *h, size_t i, struct lp_hnode *x)
{
	h->a[i] = x;
	x->idx = i;
}

static void sift_up(struct lp_heap *h, size_t i)
{
	struct lp_hnode *x = h->a[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->a[parent]->at <= x->at)
			break;
		put(h, i, h->a[parent]);
		i = parent;
	}
	put(h, i, x);
}

static void sift_down(struct lp_heap *h, size_t i)
{
	struct lp_hnode *x = h->a[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->at < h->a[c]->at)
			c++;
		if (x->at <= h->a[c]->at)
			break;
		put(h, i, h->a[c]);
		i = c;
	}
	put(h, i, x);
}

void lp_heap_push(struct lp_heap *h, struct lp_hnode *x)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->a = xrealloc(h->a, h->cap * sizeof *h->a);
	}
	put(h, h->n++, x);
	sift_up(h, x->idx);
}

void lp_heap_remove(struct lp_heap *h, struct lp_hnode *x)
{
	size_t i = x->idx;
	if (i == LP_HEAP_NONE || i >= h->n || h->a[i] != x)
		return;
	x->idx = LP_HEAP_NONE;
	struct lp_hnode *last = h->a[--h->n];
	if (last == x)
		return;
	put(h, i, last);
	if (i > 0 && h->a[(i - 1) / 2]->at > last->at)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct lp_hnode *lp_heap_top(const struct lp_heap *h)
{
	return h->n ? h->a[0] : NULL;
}

void lp_heap_free(struct lp_heap *h)
{
	free(h->a);
	h->a = NULL;
	h->n = h->cap = 0;
}
