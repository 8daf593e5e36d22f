/* SPDX-License-Identifier: MIT */
/* libFuzzer driver: query strings, cursors, headers and origins of chatai.fcgi. */
#include "autoconfig.h"
#include "cors.h"
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
	(void)v_origin_well_formed(s);
	const char *list[] = { "https://shop.example", "https://*.brand.example:8443", "http://[::1]:8080" };
	(void)cors_allowed(s, list, 3);
	(void)cors_allowed_json("https://x", s);
	free(s);
	return 0;
}
