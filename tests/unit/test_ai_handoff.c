/* SPDX-License-Identifier: MIT */
/* Unit tests of ai/handoff.c: whole-word, case-insensitive handoff word matching. */
#include "autoconfig.h"
#include "check_run.h"
#include "handoff.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char *const defaults[] = { "human", "operator", "agent", "person" };
#define NDEF (sizeof defaults / sizeof defaults[0])

static int m(const char *text)
{
	return handoff_match(text, defaults, NDEF, NULL);
}

START_TEST(test_whole_words)
{
	/* Punctuation is not part of a word (an underscore neither); a digit is. */
	CHECK_EACH(s, m(s), 1, "I want a human", "human", "human, please!", "(operator)", "talk to an agent.",
		   "human_");
	/* Parts of words never match. */
	CHECK_EACH(s, m(s), 0, "that is inhumane", "humans", "agents of chaos", "cooperatorship",
		   "personal data", "How do I reset my password?", "", "human2");
}
END_TEST

START_TEST(test_case_insensitive)
{
	ck_assert_int_eq(m("HUMAN please"), 1);
	ck_assert_int_eq(m("Give me an Operator"), 1);
	const char *const ru[] = { "оператор", "Живой человек" };
	ck_assert_int_eq(handoff_match("Позовите ОПЕРАТОРА", ru, 2, NULL), 0); /* a different word form */
	ck_assert_int_eq(handoff_match("ОПЕРАТОР!", ru, 2, NULL), 1);
	ck_assert_int_eq(handoff_match("нужен живой ЧЕЛОВЕК", ru, 2, NULL), 1);
	const char *const de[] = { "Mitarbeiter", "straße" };
	ck_assert_int_eq(handoff_match("bitte einen MITARBEITER", de, 2, NULL), 1);
	ck_assert_int_eq(handoff_match("STRASSE", de, 2, NULL), 0);
	ck_assert_int_eq(handoff_match("Straße", de, 2, NULL), 1);
}
END_TEST

START_TEST(test_phrases)
{
	const char *const words[] = { "real person", "talk to someone" };
	size_t which = 99;
	ck_assert_int_eq(handoff_match("can I talk  to\tsomeone?", words, 2, &which), 1);
	ck_assert_uint_eq(which, 1);
	ck_assert_int_eq(handoff_match("a REAL, person", words, 2, &which), 1);
	ck_assert_uint_eq(which, 0);
	ck_assert_int_eq(handoff_match("a real nice person", words, 2, NULL), 0);
	ck_assert_int_eq(handoff_match("real", words, 2, NULL), 0);
	ck_assert_int_eq(handoff_match("person real", words, 2, NULL), 0);
}
END_TEST

START_TEST(test_odd_input)
{
	/* Empty, punctuation-only and NULL entries never match anything. */
	const char *const words[] = { "", "!!!", NULL, "human" };
	ck_assert_int_eq(handoff_match("!!! ", words, 4, NULL), 0);
	ck_assert_int_eq(handoff_match("human", words, 4, NULL), 1);
	ck_assert_int_eq(handoff_match("human", words, 0, NULL), 0);
	/* Invalid UTF-8 separates words and does not crash. */
	ck_assert_int_eq(m("\xff\xfehuman\xc0\xaf"), 1);
	ck_assert_int_eq(m("hu\xffman"), 0);
	ck_assert_int_eq(m("\xe2\x82"), 0);
	ck_assert_int_eq(m("\xf4\x90\x80\x80human"), 1);
	/* A long text. */
	size_t n = 100000;
	char *big = malloc(n + 7);
	memset(big, 'a', n);
	memcpy(big + n, " human", 7);
	ck_assert_int_eq(m(big), 1);
	free(big);
}
END_TEST

START_TEST(test_random_bytes)
{
	/* Random bytes (mostly invalid UTF-8): never a crash, and a match only when the
	 * word really is there. */
	unsigned seed = 777;
	char buf[64];
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % (sizeof buf - 1);
		for (; len < n; len++) {
			seed = seed * 1103515245u + 12345u;
			char c = (char)(seed >> 16);
			buf[len] = c ? c : 'x';
		}
		buf[len] = '\0';
		int got = m(buf);
		char **w = NULL;
		size_t nw = handoff_words_split(buf, &w);
		int expect = 0;
		for (size_t i = 0; i < nw; i++)
			for (size_t k = 0; k < NDEF; k++)
				expect |= strcmp(w[i], defaults[k]) == 0;
		handoff_words_free(w, nw);
		ck_assert_int_eq(got, expect);
	}
}
END_TEST

START_TEST(test_split)
{
	char **w = NULL;
	size_t n = handoff_words_split("Hello, WORLD! Ünïcödé  123-abc", &w);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(w[0], "hello");
	ck_assert_str_eq(w[1], "world");
	ck_assert_str_eq(w[2], "ünïcödé");
	ck_assert_str_eq(w[3], "123");
	ck_assert_str_eq(w[4], "abc");
	handoff_words_free(w, n);
	n = handoff_words_split("", &w);
	ck_assert_uint_eq(n, 0);
	handoff_words_free(w, n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ai_handoff");
	check_case(s, "core", CHECK_TESTS(test_whole_words, test_case_insensitive, test_phrases,
					  test_odd_input, test_split, test_random_bytes));
	return check_run(s, CK_FORK_GETENV);
}
