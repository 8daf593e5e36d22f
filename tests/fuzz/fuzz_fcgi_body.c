/* SPDX-License-Identifier: MIT */
/* libFuzzer driver: a request body through every body validator of chatai.fcgi. */
#include "autoconfig.h"
#include "json.h"
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		json_init();
		init = 1;
	}
	char f[64];
	(void)v_nul_field((const char *)data, size, f, sizeof f);
	struct verr e;
	memset(&e, 0, sizeof e);
	cJSON *o = v_body((const char *)data, size, &e);
	if (!o) {
		if (!e.code || e.status != 400)
			abort();
		return 0;
	}
	struct v_login l;
	(void)v_login(o, &l, &e);
	struct v_post p;
	if (v_post(o, "user", &p, &e) == 0) {
		/* what is accepted obeys the text rule */
		if (!p.text || !*p.text || !utf8_valid(p.text, strlen(p.text)) ||
		    utf8_count(p.text, strlen(p.text)) > CHATAI_TEXT_MAX_CHARS)
			abort();
		free(p.text);
	}
	if (v_post(o, "manager", &p, &e) == 0)
		free(p.text);
	int start;
	(void)v_typing(o, &start, &e);
	int64_t seq;
	if (v_read(o, &seq, &e) == 0 && seq < 0)
		abort();
	struct v_new_dialog d;
	if (v_new_dialog(o, &d, &e) == 0 && d.assistant_id < 1)
		abort();
	struct v_assistant a;
	if (v_assistant(o, 1, &a, &e) == 0)
		v_assistant_free(&a);
	if (v_assistant(o, 0, &a, &e) == 0)
		v_assistant_free(&a);
	struct v_knowledge k;
	if (v_knowledge(o, &k, &e) == 0)
		v_knowledge_free(&k);
	cJSON_Delete(o);
	return 0;
}
