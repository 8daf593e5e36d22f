/* SPDX-License-Identifier: MIT */
/* Unit tests of ctl/kbfile: the CSV (RFC 4180) and JSON knowledge-base formats. */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "json.h"
#include "kbfile.h"

static int parse(const char *s, enum kbfile_format f, struct kbfile *kb)
{
	return kbfile_parse(s, strlen(s), f, kb);
}

/* s (len bytes) in format f is refused, nrows rows read well, with exactly the errors
 * listed (NULL-ended). */
static void refused(const char *s, size_t len, enum kbfile_format f, size_t nrows, const char *const *errors)
{
	struct kbfile kb;
	ck_assert_int_eq(kbfile_parse(s, len, f, &kb), -1);
	ck_assert_uint_eq(kb.nrows, nrows);
	size_t n = 0;
	for (; errors[n]; n++)
		ck_assert_str_eq(kb.errors[n], errors[n]);
	ck_assert_uint_eq(kb.nerrors, n);
	kbfile_free(&kb);
}

#define REFUSED(s, f, nrows, ...) refused(s, strlen(s), f, nrows, (const char *const[]){ __VA_ARGS__, NULL })

START_TEST(csv_rfc4180)
{
	struct kbfile kb;
	const char in[] = "\xEF\xBB\xBF" "Question , ANSWER\r\n"
			  "plain,text\r\n"
			  "\"with, comma\",\"with \"\"quotes\"\"\"\r\n"
			  "\r\n"
			  "\"multi\nline\",\"x\"\n"
			  "  spaced  ,\"  trimmed  \"";
	ck_assert_int_eq(parse(in, KBFILE_CSV, &kb), 0);
	ck_assert_uint_eq(kb.nrows, 4);
	ck_assert_str_eq(kb.rows[0].question, "plain");
	ck_assert_int_eq(kb.rows[0].line, 2);
	ck_assert_str_eq(kb.rows[1].question, "with, comma");
	ck_assert_str_eq(kb.rows[1].answer, "with \"quotes\"");
	ck_assert_str_eq(kb.rows[2].question, "multi\nline");
	ck_assert_int_eq(kb.rows[2].line, 5);
	ck_assert_str_eq(kb.rows[3].question, "spaced");
	ck_assert_str_eq(kb.rows[3].answer, "trimmed");
	ck_assert_int_eq(kb.rows[3].line, 7);
	kbfile_free(&kb);
}
END_TEST

START_TEST(csv_errors_carry_lines)
{
	struct kbfile kb;
	REFUSED("question,answer\nok,ok\na,b,c\n,x\nq\xC3,x\n", KBFILE_CSV, 1,
		"line 3: expected 2 fields (question,answer), found 3", "line 4: question: text must not be empty",
		"line 5: question: text must be valid UTF-8");
	REFUSED("question,answer\n\"open,x\n", KBFILE_CSV, 0, "line 2: unterminated quoted field");
	REFUSED("answer,question\n", KBFILE_CSV, 0, "line 1: the first line must be the header question,answer");

	ck_assert_int_eq(parse("question,answer\nab\"c,d\n", KBFILE_CSV, &kb), -1);
	ck_assert_ptr_nonnull(strstr(kb.errors[0], "line 2: a quote in an unquoted field"));
	kbfile_free(&kb);

	refused("question,answer\na\0b,c\n", 21, KBFILE_CSV, 0,
		(const char *const[]){ "line 2: question: text must not contain NUL characters", NULL });

	ck_assert_int_eq(parse("", KBFILE_CSV, &kb), -1);
	kbfile_free(&kb);
}
END_TEST

START_TEST(csv_error_list_is_capped)
{
	struct kbfile kb;
	size_t n = 200;
	char *in = malloc(20 + n * 4);
	strcpy(in, "question,answer\n");
	for (size_t i = 0; i < n; i++)
		strcat(in, ",x\n");
	ck_assert_int_eq(parse(in, KBFILE_CSV, &kb), -1);
	ck_assert_uint_eq(kb.nerrors, 51);
	ck_assert_str_eq(kb.errors[50], "... and 150 more errors");
	kbfile_free(&kb);
	free(in);
}
END_TEST

START_TEST(csv_text_limit)
{
	struct kbfile kb;
	char *in = malloc(4100 + 40);
	strcpy(in, "question,answer\nq,");
	memset(in + strlen(in), 'a', 4001);
	in[18 + 4001] = '\0';
	ck_assert_int_eq(parse(in, KBFILE_CSV, &kb), -1);
	ck_assert_str_eq(kb.errors[0], "line 2: answer: text must be at most 4000 characters");
	kbfile_free(&kb);
	free(in);
}
END_TEST

START_TEST(json_rows_and_lines)
{
	struct kbfile kb;
	const char in[] = "[\n {\"question\": \"q1\", \"answer\": \"a1\"},\n"
			  " {\"answer\": \"a2 [x] {y}\", \"question\": \"q2, \\\"quoted\\\" ]\"}\n]";
	ck_assert_int_eq(parse(in, KBFILE_AUTO, &kb), 0);
	ck_assert_int_eq(kb.format, KBFILE_JSON);
	ck_assert_uint_eq(kb.nrows, 2);
	ck_assert_str_eq(kb.rows[1].question, "q2, \"quoted\" ]");
	ck_assert_int_eq(kb.rows[0].line, 2);
	ck_assert_int_eq(kb.rows[1].line, 3);
	kbfile_free(&kb);

	ck_assert_int_eq(parse("[]", KBFILE_JSON, &kb), 0);
	ck_assert_uint_eq(kb.nrows, 0);
	kbfile_free(&kb);
}
END_TEST

START_TEST(json_errors)
{
	struct kbfile kb;
	REFUSED("[\n1,\n{\"question\": \"q\", \"answer\": []},\n{\"question\": \" \", \"answer\": \"a\"}\n]", KBFILE_JSON, 0,
		"line 2: entry 1: expected an object {\"question\", \"answer\"}", "line 3: entry 2: answer must be a string",
		"line 4: question: text must not be empty");

	ck_assert_int_eq(parse("[{\"question\": \"a\\u0000\", \"answer\": \"b\"}]", KBFILE_JSON, &kb), -1);
	ck_assert_ptr_nonnull(strstr(kb.errors[0], "\\u0000"));
	kbfile_free(&kb);

	ck_assert_int_eq(parse("[{\"question\": \"a\\\\u0000\", \"answer\": \"b\"}]", KBFILE_JSON, &kb), 0);
	ck_assert_str_eq(kb.rows[0].question, "a\\u0000");
	kbfile_free(&kb);

	ck_assert_int_eq(parse("[] []", KBFILE_JSON, &kb), -1);
	kbfile_free(&kb);
	ck_assert_int_eq(parse("{\"question\": \"q\"}", KBFILE_JSON, &kb), -1);
	kbfile_free(&kb);
	ck_assert_int_eq(parse("[\n\n{\"question\": ", KBFILE_JSON, &kb), -1);
	ck_assert_ptr_nonnull(strstr(kb.errors[0], "not valid JSON"));
	kbfile_free(&kb);
}
END_TEST

START_TEST(format_guess)
{
	ck_assert_int_eq(kbfile_guess("kb.CSV", "[", 1), KBFILE_CSV);
	ck_assert_int_eq(kbfile_guess("kb.json", "q", 1), KBFILE_JSON);
	ck_assert_int_eq(kbfile_guess("kb.txt", " \n [", 4), KBFILE_JSON);
	ck_assert_int_eq(kbfile_guess(NULL, "question,answer", 15), KBFILE_CSV);
	ck_assert_int_eq(kbfile_guess(NULL, "", 0), KBFILE_CSV);
}
END_TEST

int main(void)
{
	json_init();
	Suite *s = suite_create("kbfile");
	check_case(s, "kbfile", CHECK_TESTS(csv_rfc4180, csv_errors_carry_lines, csv_error_list_is_capped,
					    csv_text_limit, json_rows_and_lines, json_errors, format_guess));
	return check_run(s, CK_FORK_GETENV);
}
