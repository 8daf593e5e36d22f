/* SPDX-License-Identifier: MIT */
/* lpaddr: parked long-polls per client address (see lpaddr.h). */
#include "autoconfig.h"
#include "lpaddr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP_ADDR_BUCKETS 1024
static struct lp_addr *lp_addrs[LP_ADDR_BUCKETS];

static size_t lp_addr_bucket(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h % LP_ADDR_BUCKETS);
}

struct lp_addr *lp_addr_take(const char *key, int64_t max)
{
	size_t b = lp_addr_bucket(key);
	struct lp_addr *e;
	for (e = lp_addrs[b]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			break;
	if (e && max > 0 && e->n >= max)
		return NULL;
	if (!e) {
		e = xcalloc(1, sizeof *e);
		snprintf(e->key, sizeof e->key, "%s", key);
		e->next = lp_addrs[b];
		lp_addrs[b] = e;
	}
	e->n++;
	return e;
}

void lp_addr_release(struct lp_addr *e)
{
	if (!e || --e->n > 0)
		return;
	struct lp_addr **pp = &lp_addrs[lp_addr_bucket(e->key)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	free(e);
}
