/* SPDX-License-Identifier: MIT */
/* libFuzzer driver: query strings, cursors, headers and origins of chatai.fcgi. */
#include "autoconfig.h"
#include "origin.h"
#include "inboxcursor.h"
#include "request.h"
#include "json.h"
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size); /* stops at an embedded NUL, like CGI */
	struct verr e;
	struct v_messages_query mq;
	if (v_messages_query(s, 30, &mq, &e) == 0 && (mq.wait < 0 || mq.wait > 30 || mq.limit < 1))
		abort();
	struct v_dialogs_query dq;
	if (v_dialogs_query(s, &dq, &e) == 0)
		free(dq.statuses);
	char *v = NULL;
	if (query_get(s, "cursor", &v) == 1) {
		struct inbox_cursor c, c2;
		if (inbox_cursor_decode(v, &c) == 0) {
			/* a decoded cursor encodes back to one that decodes the same */
			char out[INBOX_CURSOR_MAX];
			inbox_cursor_encode(&c, out);
			if (inbox_cursor_decode(out, &c2) < 0 || c2.lo != c.lo || c2.after_id != c.after_id)
				abort();
		}
	}
	free(v);
	struct inbox_cursor c;
	(void)inbox_cursor_decode(s, &c);
	(void)content_type_is_json(s);
	(void)bearer_token(s);
	/* The origin rule (common/origin.h): the normal form is a fixed point, and an origin
	 * always passes its own normal form. */
	char n1[ORIGIN_NORMAL_MAX], n2[ORIGIN_NORMAL_MAX];
	if (origin_normalize(s, 1, n1, sizeof n1) == 0 &&
	    (origin_normalize(n1, 1, n2, sizeof n2) != 0 || strcmp(n1, n2) != 0 || !origin_entry_valid(n1)))
		abort();
	if (origin_normalize(s, 0, n1, sizeof n1) == 0 && !origin_matches(s, n1))
		abort();
	const char *list[] = { "https://shop.example", "https://*.brand.example:8443", "http://[::1]:8080" };
	(void)origin_allowed(s, list, 3);
	(void)origin_allowed_json("https://x", s);
	free(s);
	return 0;
}
