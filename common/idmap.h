/* SPDX-License-Identifier: MIT */
/*
 * idmap: a hash of nodes keyed by an int64 (a dialog's id), for the tables that find
 * things by dialog: the notifier's channels (notifier/hub.c) and the long-poll
 * dispatcher's waiting requests (fcgi/lpdispatch.c). Intrusive, as dlist.h is: a struct
 * idmap_node sits in what it indexes, and the caller gets from the node back to its
 * struct with offsetof. Chained buckets, a power of two of them, doubled when the nodes
 * come to outnumber them; never shrunk. Not locked; allocates only the buckets.
 */
#ifndef CHATAI_IDMAP_H
#define CHATAI_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_node {
	int64_t id;
	struct idmap_node *chain; /* the next node of its bucket */
};

struct idmap {
	struct idmap_node **b; /* NULL until the first add */
	size_t size, count;    /* buckets, nodes */
	size_t first;          /* buckets at the first add (0: 64) */
};

/* The node with this id, or NULL. */
struct idmap_node *idmap_find(const struct idmap *m, int64_t id);
/* Put n in (n->id set, no node with that id in m yet). Aborts on out of memory, as
 * xmalloc does. */
void idmap_add(struct idmap *m, struct idmap_node *n);
/* Take n out (nothing when it is not in). */
void idmap_remove(struct idmap *m, struct idmap_node *n);
/* Take out and return some node, NULL when m is empty (to empty a table). */
struct idmap_node *idmap_take_any(struct idmap *m);
/* Free the buckets (the nodes are the caller's); m is empty and usable again. */
void idmap_free(struct idmap *m);

/* Every node of m as `n` (none may be added or removed meanwhile). */
#define IDMAP_EACH(m, n)                                          \
	for (size_t idmap_i_ = 0; idmap_i_ < (m)->size; idmap_i_++) \
		for (struct idmap_node *n = (m)->b[idmap_i_]; n; n = n->chain)

#endif
