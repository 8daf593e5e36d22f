/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer driver: the AI worker's chat-completions codecs (ai/llm.c).
 *
 * Every input is, first, the body of an answer from the OpenAI-compatible API, given to
 * llm_parse_response() exactly as llm_complete() does after the HTTP call. What is
 * accepted is checked against the contract of llm.h with an independent reading of
 * choices[0].message.content: trimmed, valid UTF-8, no NUL, 1..CHATAI_TEXT_MAX_CHARS
 * characters, the start of the trimmed content; what is refused says why.
 *
 * Second, the same bytes cut at NUL bytes become a dialog: the assistant's name, the
 * model, one knowledge entry, then messages whose first byte picks the sender. They go
 * through llm_context_turns() and llm_build_request() as in ai/answer.c, and the request
 * body must read back as JSON holding exactly those turns, byte for byte.
 */
#include "autoconfig.h"
#include "json.h"
#include "llm.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_FIELDS 64

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The answer the contract promises for content: trim, keep max code points, trim again. */
static void expected_answer(const char *content, const char **start, size_t *len)
{
	const char *b = content, *e = content + strlen(content);
	while (b < e && is_space(*b))
		b++;
	while (e > b && is_space(e[-1]))
		e--;
	size_t count = 0;
	for (const char *p = b; p < e; p++) {
		if (((unsigned char)*p & 0xC0) != 0x80) {
			if (count == CHATAI_TEXT_MAX_CHARS) {
				e = p;
				break;
			}
			count++;
		}
	}
	while (e > b && is_space(e[-1]))
		e--;
	*start = b;
	*len = (size_t)(e - b);
}

static void check_response(const uint8_t *data, size_t size)
{
	char *text = NULL;
	const char *why = NULL;
	int rc = llm_parse_response((const char *)data, size, &text, &why);

	/* The independent reading: NULL content means "no usable content string". */
	enum json_parse_err perr;
	cJSON *root = json_parse_body((const char *)data, size, &perr);
	const char *content = NULL;
	if (root) {
		cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
		cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
		cJSON *msg = cJSON_IsObject(first) ? cJSON_GetObjectItemCaseSensitive(first, "message") : NULL;
		cJSON *c = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
		if (cJSON_IsString(c) && c->valuestring && utf8_valid(c->valuestring, strlen(c->valuestring)))
			content = c->valuestring;
	}
	const char *want = NULL;
	size_t want_len = 0;
	if (content)
		expected_answer(content, &want, &want_len);

	if (rc == 0) {
		size_t l = text ? strlen(text) : 0;
		if (!text || l == 0 || !utf8_valid(text, l) || utf8_count(text, l) > CHATAI_TEXT_MAX_CHARS ||
		    is_space(text[0]) || is_space(text[l - 1]))
			abort();
		if (!content || l != want_len || memcmp(text, want, l) != 0)
			abort();
		free(text);
	} else {
		if (rc != -1 || text || !why || !*why)
			abort();
		/* A usable content with something besides white space must not be refused. */
		if (content && want_len > 0)
			abort();
	}
	cJSON_Delete(root);
}

static const char *const senders[] = { "user", "ai", "manager", "system", "robot" };

static void check_request(const uint8_t *data, size_t size)
{
	/* Fields cut at NUL bytes; each is a fresh allocation of its exact length + 1. */
	char *field[FUZZ_MAX_FIELDS];
	size_t nf = 0, at = 0;
	while (nf < FUZZ_MAX_FIELDS) {
		const uint8_t *nul = memchr(data + at, 0, size - at);
		size_t l = nul ? (size_t)(nul - (data + at)) : size - at;
		field[nf] = xstrndup((const char *)data + at, l);
		nf++;
		if (!nul)
			break;
		at += l + 1;
	}
	const char *name = field[0];
	const char *model = nf > 1 ? field[1] : NULL;
	struct llm_fact fact = { nf > 2 ? field[2] : "", nf > 3 ? field[3] : "" };

	/* Messages: the first byte of each field picks the sender, the rest is the text. */
	size_t nmsg = nf > 4 ? nf - 4 : 0;
	const char *msg_sender[FUZZ_MAX_FIELDS], *msg_text[FUZZ_MAX_FIELDS];
	size_t eligible = 0;
	for (size_t i = 0; i < nmsg; i++) {
		const char *f = field[4 + i];
		msg_sender[i] = senders[(unsigned char)f[0] % (sizeof senders / sizeof senders[0])];
		msg_text[i] = *f ? f + 1 : f;
		if (llm_role_of(msg_sender[i]))
			eligible++;
	}
	size_t max = size % 24; /* ai_history; 0 is allowed and means "no dialog" */
	struct llm_turn turns[FUZZ_MAX_FIELDS];
	size_t nturns = llm_context_turns(msg_sender, msg_text, nmsg, max, turns);
	if (nturns != (eligible < max ? eligible : max))
		abort();
	/* The kept turns are the newest ones, oldest first. */
	size_t k = nturns;
	for (size_t i = nmsg; i > 0 && k > 0; i--) {
		const char *role = llm_role_of(msg_sender[i - 1]);
		if (!role)
			continue;
		k--;
		if (turns[k].text != msg_text[i - 1] || strcmp(turns[k].role, role) != 0)
			abort();
	}

	struct llm_request req = { .model = model, .assistant_name = name, .facts = &fact,
	                           .nfacts = nf > 2 ? 1 : 0, .turns = turns, .nturns = nturns };
	char *body = llm_build_request(&req);
	enum json_parse_err perr;
	cJSON *root = json_parse_body(body, strlen(body), &perr);
	if (!root)
		abort();
	const char *s = NULL;
	if (json_get_str(root, "model", &s) != 0 || strcmp(s, model ? model : "") != 0)
		abort();
	cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
	if (!cJSON_IsArray(msgs) || (size_t)cJSON_GetArraySize(msgs) != nturns + 1)
		abort();
	cJSON *sys = cJSON_GetArrayItem(msgs, 0);
	if (json_get_str(sys, "role", &s) != 0 || strcmp(s, "system") != 0)
		abort();
	if (json_get_str(sys, "content", &s) != 0 || (*name && !strstr(s, name)))
		abort();
	if (req.nfacts && (!strstr(s, fact.question) || !strstr(s, fact.answer)))
		abort();
	for (size_t i = 0; i < nturns; i++) {
		cJSON *m = cJSON_GetArrayItem(msgs, (int)i + 1);
		if (json_get_str(m, "role", &s) != 0 || strcmp(s, turns[i].role) != 0)
			abort();
		if (json_get_str(m, "content", &s) != 0 || strcmp(s, turns[i].text) != 0)
			abort();
	}
	cJSON_Delete(root);
	free(body);
	for (size_t i = 0; i < nf; i++)
		free(field[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		json_init();
		init = 1;
	}
	check_response(data, size);
	check_request(data, size);
	return 0;
}
