/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer driver: the notifier's HTTP request-head path, exactly as the loop drives it
 * (notifier/http.c), minus the socket. The first byte picks how the input is cut into
 * reads, so split headers and split request lines are exercised too. When a head is
 * complete, the route and the query parameters the notifier reads are parsed as well.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 64 + 1;
	data++, size--;
	struct http_req *r = http_req_new();
	enum http_feed f = HTTP_AGAIN;
	size_t off = 0;
	while (off < size && f == HTTP_AGAIN) {
		size_t n = size - off < step ? size - off : step;
		size_t used;
		f = http_req_feed(r, (const char *)data + off, n, &used);
		if (used > n)
			__builtin_trap();
		off += n;
	}
	if (f == HTTP_DONE) {
		struct http_route rt;
		char v[128];
		http_route_parse(r->url, &rt);
		static const char *const names[] = { "token", "visitor_token", "assistant_id", "since", "last_event_id" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			int n = http_query_param(r->url, names[i], v, sizeof(v));
			if (n >= (int)sizeof(v) || (n >= 0 && strlen(v) != (size_t)n))
				__builtin_trap();
		}
		(void)http_has_token(r->connection, "upgrade");
		(void)http_has_token(r->upgrade, "websocket");
		unsigned char addr[16];
		(void)http_forwarded_addr(r->forwarded_for, addr);
	} else if (f == HTTP_ERROR) {
		if (r->status != 400 && r->status != 414 && r->status != 431)
			__builtin_trap();
	}
	http_req_free(r);
	return 0;
}
