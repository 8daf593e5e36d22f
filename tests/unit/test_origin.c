/* SPDX-License-Identifier: MIT */
/* Unit tests of common/origin.c: the one allowed-origin rule that REST, the streams and
 * chatai-ctl apply (normal form, wildcard subdomains, default ports, bad input). */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "origin.h"

static const char *norm(const char *s, int wildcard)
{
	static char out[ORIGIN_NORMAL_MAX];
	return origin_normalize(s, wildcard, out, sizeof out) == 0 ? out : NULL;
}

START_TEST(normal_form)
{
	ck_assert_str_eq(norm("https://Shop.Example", 0), "https://shop.example");
	ck_assert_str_eq(norm("HTTPS://SHOP.EXAMPLE:443", 0), "https://shop.example");
	ck_assert_str_eq(norm("http://shop.example:80", 0), "http://shop.example");
	ck_assert_str_eq(norm("http://shop.example:443", 0), "http://shop.example:443");
	ck_assert_str_eq(norm("https://shop.example:80", 0), "https://shop.example:80");
	ck_assert_str_eq(norm("https://*.Shop.Example:443", 1), "https://*.shop.example");
	ck_assert_str_eq(norm("https://*.shop.example:8443", 1), "https://*.shop.example:8443");
	ck_assert_str_eq(norm("http://[::1]:8080", 0), "http://[::1]:8080");
	ck_assert_str_eq(norm("http://[::FFFF:a00:1]", 0), "http://[::ffff:a00:1]");
	ck_assert_str_eq(norm("http://localhost:08080", 0), "http://localhost:8080");
	ck_assert_str_eq(norm("https://my_host.example", 0), "https://my_host.example");
	/* A normal form is its own normal form. */
	ck_assert_str_eq(norm("https://*.shop.example", 1), "https://*.shop.example");
}
END_TEST

START_TEST(malformed)
{
	const char *bad[] = { "", "shop.example", "ftp://shop.example", "https://", "https://shop.example/",
		"https://shop.example/path", "https://user@shop.example", "https://shop.example:",
		"https://shop.example:0", "https://shop.example:65536", "https://shop.example:-1",
		"https://shop.example:+80", "https://shop.example:123456", "https://x y", "https://.shop.example",
		"https://shop.example.", "https://shop..example", "https://*", "https://*.", "*",
		"https://**.shop.example", "https://a.*.shop.example", "https://*.[::1]", "https://[::1",
		"https://[]", "https://[::g]", "https://[::1]x", "https://shop.example?x", "https://shop.example#x",
		"https://caf\xc3\xa9.example", "https://x\xff.example", "null", "https://shop.example\n" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(norm(bad[i], 1) == NULL, "%s", bad[i]);
		ck_assert_msg(!origin_entry_valid(bad[i]), "%s", bad[i]);
	}
	/* A wildcard is an entry's, never an Origin header's. */
	ck_assert_ptr_null(norm("https://*.shop.example", 0));
	ck_assert(!origin_matches("https://*.shop.example", "https://*.shop.example"));
	/* Hosts are at most 253 characters; out too small is a refusal, not a cut. */
	char big[300] = "https://";
	memset(big + 8, 'a', 254);
	big[262] = '\0';
	ck_assert_ptr_null(norm(big, 0));
	big[261] = '\0';
	ck_assert_ptr_nonnull(norm(big, 0));
	char small[16];
	ck_assert_int_eq(origin_normalize("https://shop.example", 0, small, sizeof small), -1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(origin_normalize(NULL, 1, small, sizeof small), -1);
}
END_TEST

START_TEST(matching)
{
	const char *list[] = { "https://shop.example", "https://*.brand.example", "http://localhost:8080",
		               "https://plain.example:443", NULL };
	const size_t n = 5;
	ck_assert(origin_allowed("https://shop.example", list, n));
	ck_assert(origin_allowed("HTTPS://SHOP.EXAMPLE", list, n));
	ck_assert(origin_allowed("https://shop.example:443", list, n));
	ck_assert(origin_allowed("https://plain.example", list, n));
	ck_assert(origin_allowed("https://plain.example:443", list, n));
	ck_assert(!origin_allowed("http://plain.example", list, n));
	ck_assert(!origin_allowed("http://shop.example", list, n));
	ck_assert(!origin_allowed("https://shop.example:8443", list, n));
	ck_assert(!origin_allowed("https://evilshop.example", list, n));
	ck_assert(!origin_allowed("https://shop.example.evil.com", list, n));
	ck_assert(origin_allowed("https://a.brand.example", list, n));
	ck_assert(origin_allowed("https://A.B.Brand.Example:443", list, n));
	ck_assert(!origin_allowed("https://brand.example", list, n));
	ck_assert(!origin_allowed("https://xbrand.example", list, n));
	ck_assert(!origin_allowed("https://brand.example.evil", list, n));
	ck_assert(!origin_allowed("http://a.brand.example", list, n));
	ck_assert(!origin_allowed("https://a.brand.example:8443", list, n));
	ck_assert(!origin_allowed("https://a.brand.example/", list, n));
	ck_assert(origin_allowed("http://localhost:8080", list, n));
	ck_assert(!origin_allowed("http://localhost", list, n));
	ck_assert(!origin_allowed("null", list, n));
	ck_assert(!origin_allowed("", list, n));
	/* No Origin header: not a browser, not restricted by origin. */
	ck_assert(origin_allowed(NULL, list, n));
	ck_assert(origin_allowed("null", NULL, 0));
	ck_assert(origin_allowed("https://anything.example", NULL, 0));
	/* Not UTF-8: refused whatever the list says. */
	ck_assert(!origin_allowed("https://x\xff.example", NULL, 0));
	ck_assert(!origin_allowed("https://\xc3\x28.example", list, n));
	/* A malformed stored entry matches nothing (rows written before the rule). */
	const char *odd[] = { "*", "https://shop.example/" };
	ck_assert(!origin_allowed("https://shop.example", odd, 2));
}
END_TEST

START_TEST(json_lists)
{
	ck_assert(origin_allowed_json("https://shop.example", "[\"https://shop.example\"]"));
	ck_assert(origin_allowed_json("https://a.shop.example", "[\"https://*.shop.example\"]"));
	ck_assert(!origin_allowed_json("https://shop.example.evil", "[\"https://*.shop.example\"]"));
	ck_assert(origin_allowed_json("https://x.example", "[]"));
	ck_assert(!origin_allowed_json("https://x.example", "[\"https://shop.example\"]"));
	ck_assert(!origin_allowed_json("https://x.example", "garbage"));
	ck_assert(!origin_allowed_json("https://x.example", NULL));
	ck_assert(!origin_allowed_json("https://x.example", "[1, null, {}]"));
	ck_assert(origin_allowed_json(NULL, "[\"https://shop.example\"]"));
	ck_assert(!origin_allowed_json("https://shop.example\xed\xa0\x80", "[]"));
	ck_assert(origin_allowed_json("https://shop.example", "[1, \"https://shop.example\"]"));
}
END_TEST

int main(void)
{
	json_init();
	Suite *s = suite_create("origin");
	TCase *tc = tcase_create("rule");
	tcase_add_test(tc, normal_form);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, matching);
	tcase_add_test(tc, json_lists);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
