/* SPDX-License-Identifier: MIT */
/*
 * lpaddr: how many long-polls each client address (IPv6 per /64: addr_limit_key) has
 * parked, for fcgi_longpoll_max_per_ip. One table per process; not locked: the hub calls
 * it under its mutex.
 */
#ifndef CHATAI_FCGI_LPADDR_H
#define CHATAI_FCGI_LPADDR_H

#include <stdint.h>
#include "util.h"

struct lp_addr {
	struct lp_addr *next;
	int64_t n;
	char key[72];
};

/* One more parked request from key; NULL when it has max already (max <= 0: no cap). */
struct lp_addr *lp_addr_take(const char *key, int64_t max) CHATAI_WUR;
/* One fewer (NULL: nothing). */
void lp_addr_release(struct lp_addr *e);

#endif
