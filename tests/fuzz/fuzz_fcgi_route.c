/* SPDX-License-Identifier: MIT */
/* libFuzzer driver: request paths against the route table of chatai.fcgi. */
#include "autoconfig.h"
#include "router.h"
#include "routes.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PATCH", "DELETE", "OPTIONS", "PUT" };
	if (size < 1)
		return 0;
	const char *method = methods[data[0] % 6];
	char *path = xstrndup((const char *)data + 1, size - 1);
	const struct route *rt = NULL;
	int64_t ids[ROUTE_MAX_IDS];
	int n = 0, widget = 0;
	char allow[96];
	enum route_status st =
		route_match(chatai_routes, method, path, &rt, ids, &n, allow, sizeof allow, &widget);
	if (st == ROUTE_FOUND) {
		if (!rt || n < 0 || n > ROUTE_MAX_IDS)
			abort();
		for (int i = 0; i < n; i++)
			if (ids[i] < 1)
				abort();
	} else if (rt) {
		abort();
	}
	free(path);
	return 0;
}
