/* SPDX-License-Identifier: MIT */
/* Unit tests of ai/llm.c: the chat-completions request and response codecs and the
 * context built from a dialog. */
#include "autoconfig.h"
#include "check_run.h"
#include "json.h"
#include "llm.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *body, char **text, const char **why)
{
	return llm_parse_response(body, strlen(body), text, why);
}

START_TEST(test_roles)
{
	ck_assert_str_eq(llm_role_of("user"), "user");
	ck_assert_str_eq(llm_role_of("ai"), "assistant");
	ck_assert_str_eq(llm_role_of("manager"), "assistant");
	ck_assert_ptr_null(llm_role_of("system"));
	ck_assert_ptr_null(llm_role_of("robot"));
	ck_assert_ptr_null(llm_role_of(NULL));
}
END_TEST

START_TEST(test_context_turns)
{
	const char *senders[] = { "ai", "user", "system", "user", "ai", "manager", "user" };
	const char *texts[] = { "Hi!", "q1", "handoff", "q2", "a2", "m1", "q3" };
	struct llm_turn out[8];
	size_t n = llm_context_turns(senders, texts, 7, 20, out);
	ck_assert_uint_eq(n, 6); /* the system notice is left out */
	ck_assert_str_eq(out[0].role, "assistant");
	ck_assert_str_eq(out[0].text, "Hi!");
	ck_assert_str_eq(out[1].text, "q1");
	ck_assert_str_eq(out[2].text, "q2");
	ck_assert_str_eq(out[4].role, "assistant");
	ck_assert_str_eq(out[4].text, "m1");
	ck_assert_str_eq(out[5].role, "user");
	ck_assert_str_eq(out[5].text, "q3");
	/* Only the newest turns are kept, still oldest first. */
	n = llm_context_turns(senders, texts, 7, 3, out);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out[0].text, "a2");
	ck_assert_str_eq(out[1].text, "m1");
	ck_assert_str_eq(out[2].text, "q3");
	ck_assert_uint_eq(llm_context_turns(senders, texts, 7, 0, out), 0);
	ck_assert_uint_eq(llm_context_turns(senders, texts, 0, 5, out), 0);
}
END_TEST

START_TEST(test_build_request)
{
	struct llm_fact facts[] = { { "How do I reset my password?", "Settings, then \"Reset\"." } };
	struct llm_turn turns[] = { { "assistant", "Hello!" }, { "user", "pw reset?\n\u00e9\u2603" } };
	struct llm_request r = { .model = "gpt-test", .assistant_name = "Shop \"bot\"",
	                         .facts = facts, .nfacts = 1, .turns = turns, .nturns = 2 };
	char *body = llm_build_request(&r);
	enum json_parse_err err;
	cJSON *root = json_parse_body(body, strlen(body), &err);
	ck_assert_ptr_nonnull(root);
	const char *model = NULL;
	ck_assert_int_eq(json_get_str(root, "model", &model), 0);
	ck_assert_str_eq(model, "gpt-test");
	cJSON *msgs = cJSON_GetObjectItem(root, "messages");
	ck_assert_int_eq(cJSON_GetArraySize(msgs), 3);
	const char *role = NULL, *content = NULL;
	cJSON *sys = cJSON_GetArrayItem(msgs, 0);
	ck_assert_int_eq(json_get_str(sys, "role", &role), 0);
	ck_assert_str_eq(role, "system");
	ck_assert_int_eq(json_get_str(sys, "content", &content), 0);
	ck_assert_ptr_nonnull(strstr(content, "Shop \"bot\""));
	ck_assert_ptr_nonnull(strstr(content, "Q: How do I reset my password?\nA: Settings, then \"Reset\"."));
	cJSON *last = cJSON_GetArrayItem(msgs, 2);
	ck_assert_int_eq(json_get_str(last, "role", &role), 0);
	ck_assert_str_eq(role, "user");
	ck_assert_int_eq(json_get_str(last, "content", &content), 0);
	ck_assert_str_eq(content, "pw reset?\n\u00e9\u2603");
	cJSON_Delete(root);
	free(body);

	/* No facts: no knowledge section; no name: a neutral one. */
	struct llm_request bare = { .model = "m" };
	body = llm_build_request(&bare);
	ck_assert_ptr_null(strstr(body, "Knowledge:"));
	ck_assert_ptr_nonnull(strstr(body, "the assistant"));
	free(body);
}
END_TEST

START_TEST(test_parse_ok)
{
	char *text = NULL;
	const char *why = NULL;
	ck_assert_int_eq(parse("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
	                       "\"content\":\"  Hello there \\u2603\\n\"},\"finish_reason\":\"stop\"}]}",
	                       &text, &why), 0);
	ck_assert_str_eq(text, "Hello there \u2603");
	free(text);
}
END_TEST

START_TEST(test_parse_bad)
{
	char *text = NULL;
	const char *why = NULL;
	const char *bad[] = {
		"",
		"not json",
		"[1,2]",
		"{\"choices\":[]}",
		"{\"choices\":{}}",
		"{\"choices\":[{\"message\":{}}]}",
		"{\"choices\":[{\"message\":{\"content\":null}}]}",
		"{\"choices\":[{\"message\":{\"content\":42}}]}",
		"{\"choices\":[{\"message\":{\"content\":\"   \\n\\t \"}}]}",
		"{\"choices\":[{\"message\":{\"content\":\"cut\\u0000here\"}}]}",
		"{\"choices\":[{\"message\":\"hello\"}]}",
		"{\"error\":{\"message\":\"rate limited\"}}",
		"{\"choices\":[{\"message\":{\"content\":\"x\"}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		ck_assert_msg(parse(bad[i], &text, &why) == -1, "accepted: %s", bad[i]);
		ck_assert_ptr_null(text);
		ck_assert_ptr_nonnull(why);
	}
	/* Invalid UTF-8 inside the string. */
	ck_assert_int_eq(parse("{\"choices\":[{\"message\":{\"content\":\"a\xff\"}}]}", &text, &why), -1);
	ck_assert_ptr_null(text);
}
END_TEST

START_TEST(test_parse_long)
{
	/* 5000 snowmen (3 bytes each): cut to 4000 characters at a character boundary. */
	size_t n = 5000;
	const char *head = "{\"choices\":[{\"message\":{\"content\":\"";
	const char *tail = "\"}}]}";
	char *body = malloc(strlen(head) + n * 3 + strlen(tail) + 1);
	strcpy(body, head);
	char *p = body + strlen(head);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, "\xe2\x98\x83", 3);
		p += 3;
	}
	strcpy(p, tail);
	char *text = NULL;
	const char *why = NULL;
	ck_assert_int_eq(parse(body, &text, &why), 0);
	ck_assert_uint_eq(strlen(text), 4000 * 3);
	ck_assert_uint_eq(utf8_count(text, strlen(text)), 4000);
	free(text);
	free(body);
}
END_TEST

START_TEST(test_parse_long_leading_space)
{
	/* Regression (tests/fuzz/corpus/llm/leading_space_long.json): 4100 blanks, then the
	 * answer. The cut to 4000 characters used to come before the trim, leaving only
	 * blanks: a usable answer was refused as empty. */
	const char *head = "{\"choices\":[{\"message\":{\"content\":\"";
	const char *tail = "Hello after the padding\"}}]}";
	size_t pad = 4100;
	char *body = malloc(strlen(head) + pad + strlen(tail) + 1);
	strcpy(body, head);
	memset(body + strlen(head), ' ', pad);
	strcpy(body + strlen(head) + pad, tail);
	char *text = NULL;
	const char *why = NULL;
	ck_assert_int_eq(parse(body, &text, &why), 0);
	ck_assert_str_eq(text, "Hello after the padding");
	free(text);
	free(body);

	/* Leading blanks do not count against the 4000 characters either. */
	size_t n = 4000;
	body = malloc(strlen(head) + 10 + n + 5 + 1);
	char *p = stpcpy(body, head);
	memset(p, ' ', 10);
	p += 10;
	memset(p, 'x', n);
	p += n;
	strcpy(p, "\"}}]}");
	ck_assert_int_eq(parse(body, &text, &why), 0);
	ck_assert_uint_eq(strlen(text), n);
	free(text);
	free(body);
}
END_TEST

START_TEST(test_parse_mutations)
{
	/* Random byte changes, cuts and insertions of a valid answer: never a crash, and
	 * whatever is accepted is a valid message text. */
	const char *good = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
	                   "\"content\":\"Hello \\u00e9 \\\"there\\\"\"}}]}";
	size_t gl = strlen(good);
	unsigned seed = 12345;
	char buf[256];
	for (int round = 0; round < 20000; round++) {
		memcpy(buf, good, gl + 1);
		size_t len = gl;
		int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 16) % len;
			seed = seed * 1103515245u + 12345u;
			unsigned char b = (unsigned char)(seed >> 16);
			switch ((seed >> 8) % 3) {
			case 0: buf[at] = (char)b; break;          /* replace */
			case 1: len = at; buf[len] = '\0'; break;   /* cut */
			default:                                    /* insert */
				if (len + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, len - at + 1);
					buf[at] = (char)b;
					len++;
				}
			}
			if (len == 0)
				break;
		}
		char *text = NULL;
		const char *why = NULL;
		if (llm_parse_response(buf, len, &text, &why) == 0) {
			ck_assert_ptr_nonnull(text);
			ck_assert(utf8_valid(text, strlen(text)));
			ck_assert_uint_gt(strlen(text), 0);
			free(text);
		} else {
			ck_assert_ptr_null(text);
			ck_assert_ptr_nonnull(why);
		}
	}
}
END_TEST

START_TEST(test_complete_unreachable)
{
	/* Nothing listens on port 9 of the loopback: a clear error, no answer, no hang. */
	struct llm_config cfg = { .base_url = "http://127.0.0.1:9/v1", .api_key = "sk-secret", .timeout_ms = 2000 };
	char *text = NULL;
	char err[256] = "";
	ck_assert_int_eq(llm_complete(&cfg, "{}", &text, err, sizeof err), -1);
	ck_assert_ptr_null(text);
	ck_assert_str_ne(err, "");
	ck_assert_ptr_null(strstr(err, "sk-secret"));
	struct llm_config none = { .base_url = NULL, .timeout_ms = 1000 };
	ck_assert_int_eq(llm_complete(&none, "{}", &text, err, sizeof err), -1);
}
END_TEST

int main(void)
{
	json_init();
	llm_global_init();
	Suite *s = suite_create("ai_llm");
	check_case(s, "core", CHECK_TESTS(test_roles, test_context_turns, test_build_request, test_parse_ok,
					  test_parse_bad, test_parse_long, test_parse_long_leading_space,
					  test_parse_mutations, test_complete_unreachable));
	int status = check_run(s, CK_FORK_GETENV);
	llm_global_cleanup();
	return status;
}
