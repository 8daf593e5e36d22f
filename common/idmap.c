/* SPDX-License-Identifier: MIT */
/* idmap: a hash of nodes keyed by an int64 (see idmap.h). */
#include "autoconfig.h"
#include "idmap.h"
#include "util.h"

#include <stdlib.h>

static size_t bucket_of(int64_t id, size_t size)
{
	uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing */
	return (size_t)(h >> 32) & (size - 1);
}

struct idmap_node *idmap_find(const struct idmap *m, int64_t id)
{
	if (!m->size)
		return NULL;
	for (struct idmap_node *n = m->b[bucket_of(id, m->size)]; n; n = n->chain)
		if (n->id == id)
			return n;
	return NULL;
}

static void grow(struct idmap *m)
{
	size_t size = m->size ? m->size * 2 : m->first ? m->first : 64;
	struct idmap_node **b = xcalloc(size, sizeof *b);
	for (size_t i = 0; i < m->size; i++)
		for (struct idmap_node *n = m->b[i], *next; n; n = next) {
			next = n->chain;
			size_t k = bucket_of(n->id, size);
			n->chain = b[k];
			b[k] = n;
		}
	free(m->b);
	m->b = b;
	m->size = size;
}

void idmap_add(struct idmap *m, struct idmap_node *n)
{
	if (m->count >= m->size)
		grow(m);
	size_t k = bucket_of(n->id, m->size);
	n->chain = m->b[k];
	m->b[k] = n;
	m->count++;
}

void idmap_remove(struct idmap *m, struct idmap_node *n)
{
	if (!m->size)
		return;
	struct idmap_node **pp = &m->b[bucket_of(n->id, m->size)];
	while (*pp && *pp != n)
		pp = &(*pp)->chain;
	if (!*pp)
		return;
	*pp = n->chain;
	n->chain = NULL;
	m->count--;
}

struct idmap_node *idmap_take_any(struct idmap *m)
{
	for (size_t i = 0; i < m->size; i++)
		if (m->b[i]) {
			struct idmap_node *n = m->b[i];
			m->b[i] = n->chain;
			n->chain = NULL;
			m->count--;
			return n;
		}
	return NULL;
}

void idmap_free(struct idmap *m)
{
	free(m->b);
	m->b = NULL;
	m->size = m->count = 0;
}
