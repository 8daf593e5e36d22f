/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/check_run.h: what every unit test's main() shares. A suite is built from
 * tables of tests (one per test case) and run by check_run(), which frees the runner and
 * returns the process's exit status (EXIT_FAILURE when any test failed).
 *
 *	Suite *s = suite_create("kbfile");
 *	check_case(s, "kbfile", CHECK_TESTS(csv_rfc4180, json_errors));
 *	return check_run(s, CK_FORK_GETENV);
 *
 * check_case() returns the test case, for fixtures and timeouts. Header-only: the tests
 * are built by several local.mk files, and quotes find it next to the test's source.
 */
#ifndef CHATAI_TESTS_CHECK_RUN_H
#define CHATAI_TESTS_CHECK_RUN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

/* The tests of one case, as a NULL-ended array of START_TEST names. */
#define CHECK_TESTS(...) ((const TTest *const[]){ __VA_ARGS__, NULL })

/* Adds a test case called name holding tests (NULL-ended) to s; returns it. */
static inline TCase *check_case(Suite *s, const char *name, const TTest *const *tests)
{
	TCase *tc = tcase_create(name);
	for (; *tests; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
	return tc;
}

/*
 * Table-driven cases of a test over strings: for each string s of the list, expr (which
 * names s) must equal want; a failure names the expression and the case.
 *
 *	CHECK_EACH(s, email_valid(s), 0, "no-at", "@b.c", "a@");
 */
#define CHECK_EACH(s, expr, want, ...)                                                                       \
	do {                                                                                                 \
		const char *const check_each_[] = { __VA_ARGS__ };                                           \
		for (size_t check_i_ = 0; check_i_ < sizeof check_each_ / sizeof *check_each_; check_i_++) { \
			const char *s = check_each_[check_i_];                                               \
			ck_assert_msg((expr) == (want), "%s is not %d for \"%s\"", #expr, (int)(want), s);   \
		}                                                                                            \
	} while (0)

/* Runs s (the runner owns it from here) with the fork mode given (CK_FORK_GETENV: what
 * CK_FORK says, forking by default); returns EXIT_SUCCESS or EXIT_FAILURE. */
static inline int check_run(Suite *s, enum fork_status mode)
{
	SRunner *sr = srunner_create(s);
	if (mode != CK_FORK_GETENV)
		srunner_set_fork_status(sr, mode);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
