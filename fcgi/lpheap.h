/* SPDX-License-Identifier: MIT */
/*
 * lpheap: a binary min-heap of times, for the long-poll dispatcher's waiting requests
 * (the next one to look at is its top; any one can leave in O(log n)). Pure: no locks,
 * no I/O; the caller embeds a struct lp_hnode in what it schedules.
 */
#ifndef CHATAI_FCGI_LPHEAP_H
#define CHATAI_FCGI_LPHEAP_H

#include <stddef.h>
#include <stdint.h>

#define LP_HEAP_NONE SIZE_MAX

struct lp_hnode {
	int64_t at;  /* its time (monotonic ms) */
	size_t idx;  /* its place in the heap; LP_HEAP_NONE when out */
};

struct lp_heap {
	struct lp_hnode **a;
	size_t n, cap;
};

/* Put x (not in any heap; x->at set) in. Aborts on out of memory, as xmalloc does. */
void lp_heap_push(struct lp_heap *h, struct lp_hnode *x);
/* Take x out; nothing when it is not in. */
void lp_heap_remove(struct lp_heap *h, struct lp_hnode *x);
/* The earliest, or NULL when empty. */
struct lp_hnode *lp_heap_top(const struct lp_heap *h);
void lp_heap_free(struct lp_heap *h);

#endif
