/* SPDX-License-Identifier: MIT */
/* Unit tests of common/: UTF-8 and the text rules, URL decoding, base64url, the origin
 * rule, integers, settings, JSON bodies, tokens, passwords and log redaction. Run by
 * `make check` (also under ASan/UBSan and Valgrind, see scripts/test). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "settings.h"
#include "token.h"
#include "text.h"
#include "url.h"
#include "origin.h"
#include "b64url.h"
#include "idmap.h"
#include "util.h"

/* ---- utf8_valid / utf8_count ------------------------------------------------------------ */

#define V(lit) utf8_valid(lit, sizeof(lit) - 1)

START_TEST(utf8_accepts_well_formed)
{
	ck_assert(V(""));
	ck_assert(V("plain ASCII ~"));
	ck_assert(V("\xC2\x80"));             /* U+0080, smallest 2-byte */
	ck_assert(V("caf\xC3\xA9"));          /* é */
	ck_assert(V("\xDF\xBF"));             /* U+07FF */
	ck_assert(V("\xE0\xA0\x80"));         /* U+0800, smallest 3-byte */
	ck_assert(V("\xED\x9F\xBF"));         /* U+D7FF, just below the surrogates */
	ck_assert(V("\xEE\x80\x80"));         /* U+E000, just above them */
	ck_assert(V("\xEF\xBF\xBF"));         /* U+FFFF */
	ck_assert(V("\xF0\x90\x80\x80"));     /* U+10000, smallest 4-byte */
	ck_assert(V("\xF0\x9F\x99\x82"));     /* 🙂 */
	ck_assert(V("\xF4\x8F\xBF\xBF"));     /* U+10FFFF, the largest code point */
	ck_assert(utf8_valid("a\0b", 3));     /* NUL is valid UTF-8 (text_validate refuses it) */
}
END_TEST

START_TEST(utf8_refuses_overlongs)
{
	ck_assert(!V("\xC0\x80"));            /* overlong NUL */
	ck_assert(!V("\xC0\xAF"));            /* overlong '/' */
	ck_assert(!V("\xC1\xBF"));
	ck_assert(!V("\xE0\x80\x80"));
	ck_assert(!V("\xE0\x9F\xBF"));        /* overlong U+07FF */
	ck_assert(!V("\xF0\x80\x80\x80"));
	ck_assert(!V("\xF0\x8F\xBF\xBF"));    /* overlong U+FFFF */
}
END_TEST

START_TEST(utf8_refuses_surrogates_and_out_of_range)
{
	ck_assert(!V("\xED\xA0\x80"));        /* U+D800 */
	ck_assert(!V("\xED\xBF\xBF"));        /* U+DFFF */
	ck_assert(!V("\xED\xA0\xBD\xED\xB8\x82")); /* CESU-8 pair */
	ck_assert(!V("\xF4\x90\x80\x80"));    /* U+110000 */
	ck_assert(!V("\xF5\x80\x80\x80"));
	ck_assert(!V("\xF7\xBF\xBF\xBF"));
	ck_assert(!V("\xF8\x88\x80\x80\x80")); /* 5-byte form */
	ck_assert(!V("\xFC\x84\x80\x80\x80\x80"));
	ck_assert(!V("\xFE"));
	ck_assert(!V("\xFF"));
}
END_TEST

START_TEST(utf8_refuses_truncated_and_stray)
{
	ck_assert(!V("\x80"));                /* continuation without a lead */
	ck_assert(!V("a\xBF" "b"));
	ck_assert(!V("\xC3"));                /* lead at the end */
	ck_assert(!V("\xE2\x82"));            /* 3-byte cut after 2 */
	ck_assert(!V("\xF0\x9F\x99"));        /* 4-byte cut after 3 */
	ck_assert(!V("\xC3" "a"));            /* lead followed by ASCII */
	ck_assert(!V("\xE2\x28\xA1"));
	ck_assert(!V("\xF0\x9F\x28\x82"));
	/* the length bounds the check: a valid sequence cut by len is refused */
	ck_assert(!utf8_valid("\xC3\xA9", 1));
	ck_assert(utf8_valid("\xC3\xA9", 2));
}
END_TEST

START_TEST(utf8_counts_code_points)
{
	ck_assert_uint_eq(utf8_count("", 0), 0);
	ck_assert_uint_eq(utf8_count("abc", 3), 3);
	ck_assert_uint_eq(utf8_count("caf\xC3\xA9", 5), 4);
	ck_assert_uint_eq(utf8_count("\xF0\x9F\x99\x82\xE2\x82\xAC", 7), 2);
}
END_TEST

/* ---- text_validate ---------------------------------------------------------------------- */

static char *repeat(const char *unit, size_t times, const char *pre, const char *post)
{
	size_t ul = strlen(unit), pl = strlen(pre), sl = strlen(post);
	char *s = xmalloc(pl + ul * times + sl + 1);
	memcpy(s, pre, pl);
	for (size_t i = 0; i < times; i++)
		memcpy(s + pl + i * ul, unit, ul);
	memcpy(s + pl + ul * times, post, sl + 1);
	return s;
}

static int tv(const char *s, size_t len, char **out, const char **why)
{
	*why = NULL;
	return text_validate(s, len, out, why);
}

START_TEST(text_length_limits)
{
	char *out = NULL;
	const char *why = NULL;

	ck_assert_int_eq(tv("", 0, &out, &why), -1);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(why, "text must not be empty");

	ck_assert_int_eq(tv("x", 1, &out, &why), 0);
	ck_assert_str_eq(out, "x");
	free(out);

	/* Long texts: the limit counts characters, not bytes, and the white space around does
	 * not count. A text kept is this many bytes long; a refused one leaves out NULL. */
	static const struct {
		const char *unit, *pre, *post;
		size_t times;
		int rc;
		size_t bytes;
	} longs[] = {
		{ "a", "", "", 4000, 0, 4000 },
		{ "a", "", "", 4001, -1, 0 },
		{ "\xC3\xA9", "", "", 4000, 0, 8000 },
		{ "\xF0\x9F\x99\x82", "", "", 4000, 0, 16000 },
		{ "\xE2\x82\xAC", "", "", 4001, -1, 0 },
		{ "a", " \t\r\n", "\n\n   ", 4000, 0, 4000 },
	};
	for (size_t i = 0; i < sizeof longs / sizeof *longs; i++) {
		char *s = repeat(longs[i].unit, longs[i].times, longs[i].pre, longs[i].post);
		out = (char *)1; /* a refusal must set it to NULL */
		ck_assert_msg(tv(s, strlen(s), &out, &why) == longs[i].rc, "case %zu", i);
		if (longs[i].rc == 0) {
			ck_assert_msg(strlen(out) == longs[i].bytes, "case %zu", i);
		} else {
			ck_assert_ptr_null(out);
			ck_assert_str_eq(why, "text must be at most 4000 characters");
		}
		free(out);
		free(s);
	}
}
END_TEST

START_TEST(text_trimming)
{
	char *out = NULL;
	const char *why = NULL;
	const char in[] = " \t\n\v\f\r hello  world \r\n";
	ck_assert_int_eq(tv(in, sizeof in - 1, &out, &why), 0);
	ck_assert_str_eq(out, "hello  world");
	free(out);

	ck_assert_int_eq(tv(" \t\r\n ", 5, &out, &why), -1);
	ck_assert_str_eq(why, "text must not be empty");

	/* only ASCII white space is trimmed: a no-break space is text */
	ck_assert_int_eq(tv("\xC2\xA0", 2, &out, &why), 0);
	ck_assert_str_eq(out, "\xC2\xA0");
	free(out);
	ck_assert_int_eq(tv(" \xE3\x80\x80 ", 5, &out, &why), 0);
	ck_assert_str_eq(out, "\xE3\x80\x80");
	free(out);

	/* the length is honoured: bytes past len are not looked at */
	ck_assert_int_eq(tv("ab  cd", 4, &out, &why), 0);
	ck_assert_str_eq(out, "ab");
	free(out);
}
END_TEST

START_TEST(text_refuses_nul_and_bad_utf8)
{
	char *out = (char *)1;
	const char *why = NULL;
	ck_assert_int_eq(tv("a\0b", 3, &out, &why), -1);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(why, "text must not contain NUL characters");
	ck_assert_int_eq(tv("\0", 1, &out, &why), -1);
	ck_assert_int_eq(tv("ok \xC0\x80", 5, &out, &why), -1);
	ck_assert_str_eq(why, "text must be valid UTF-8");
	ck_assert_int_eq(tv("\xED\xA0\x80", 3, &out, &why), -1);
	ck_assert_int_eq(tv(NULL, 0, &out, &why), -1);
	ck_assert_str_eq(why, "text is required");
}
END_TEST

/* The other limits of common/text.h: names, greetings, emails, truncation. */
START_TEST(text_names_greetings_emails)
{
	char *out = NULL;
	const char *why = NULL;
	char name[512] = "";
	for (int i = 0; i < 200; i++)
		strcat(name, "\xC3\xA9"); /* 200 characters, 400 bytes */
	ck_assert_int_eq(name_validate(name, &out, &why), 0);
	free(out);
	strcat(name, "e");
	ck_assert_int_eq(name_validate(name, &out, &why), -1);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(name_validate("  Shop  ", &out, &why), 0);
	ck_assert_str_eq(out, "Shop");
	free(out);
	ck_assert_int_eq(name_validate("a\tb", &out, &why), -1);
	ck_assert_int_eq(name_validate("a\x7f", &out, &why), -1);
	ck_assert_int_eq(name_validate(" ", &out, &why), -1);
	ck_assert_int_eq(text_greeting("", &out, &why), 0);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert_int_eq(text_greeting("  Hi  ", &out, &why), 0);
	ck_assert_str_eq(out, "Hi");
	free(out);
	ck_assert_int_eq(text_greeting(" \t ", &out, &why), -1);
	ck_assert_int_eq(text_greeting(NULL, &out, &why), -1);
	ck_assert(email_valid("a@b"));
	ck_assert(email_valid("ops@shop.example"));
	const char *bad[] = { "ab", "@b.example", "a@", "a@b@c", "a b@c", "a@b\x7f", "a@\xC3", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(!email_valid(bad[i]), "%s", bad[i]);
	char email[300];
	memset(email, 'a', 250);
	memcpy(email + 250, "@b.c", 5); /* 254 bytes */
	ck_assert(email_valid(email));
	memmove(email + 1, email, 255); /* 255 */
	ck_assert(!email_valid(email));
	char cut[] = "ab\xC3\xA9" "cd";
	utf8_truncate(cut, 3);
	ck_assert_str_eq(cut, "ab\xC3\xA9");
	utf8_truncate(cut, 10);
	ck_assert_str_eq(cut, "ab\xC3\xA9");
	utf8_truncate(cut, 0);
	ck_assert_str_eq(cut, "");
}
END_TEST

/* ---- url, b64url: the one percent-decoder and base64url codec ------------------------- */

START_TEST(query_basic)
{
	/* found (1, and its value) or not (0, and NULL) */
	static const struct {
		const char *query, *key;
		int found;
		const char *value;
	} cases[] = {
		{ "after=5&wait=10", "wait", 1, "10" },
		{ "after=5&wait=10", "after", 1, "5" },
		{ "after=5", "limit", 0, NULL },
		{ "", "x", 0, NULL },
		{ "waiter=1&wait=2", "wait", 1, "2" },
		{ "flag&x=1", "flag", 1, "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *v = (char *)1; /* not found must set it to NULL */
		ck_assert_msg(query_get(cases[i].query, cases[i].key, &v) == cases[i].found, "%s", cases[i].query);
		if (cases[i].found)
			ck_assert_str_eq(v, cases[i].value);
		else
			ck_assert_ptr_null(v);
		free(v);
	}
}
END_TEST

START_TEST(query_decoding)
{
	char *v = NULL;
	ck_assert_int_eq(query_get("t=a%2Bb+c%20d", "t", &v), 1);
	ck_assert_str_eq(v, "a+b c d");
	free(v);
	ck_assert_int_eq(query_get("t=%zz", "t", &v), -1);
	ck_assert_int_eq(query_get("t=%4", "t", &v), -1);
	ck_assert_int_eq(query_get("t=%", "t", &v), -1);
	ck_assert_int_eq(query_get("t=a%00b", "t", &v), -1);
	ck_assert_int_eq(query_get("visitor_token=abc%5F-x", "visitor_token", &v), 1);
	ck_assert_str_eq(v, "abc_-x");
	free(v);
}
END_TEST


START_TEST(url_decoding_rule)
{
	char out[16], *d = NULL;
	ck_assert_int_eq(url_pct_decode("a%20b+c", 7, 1, out, sizeof out), 5);
	ck_assert_str_eq(out, "a b c");
	ck_assert_int_eq(url_pct_decode("a%20b+c", 7, 0, out, sizeof out), 5);
	ck_assert_str_eq(out, "a b+c");
	ck_assert_int_eq(url_pct_decode("%2f%2F", 6, 0, out, sizeof out), 2);
	ck_assert_str_eq(out, "//");
	const char *bad[] = { "%", "%4", "%zz", "%00", "a%0", "%g1" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(url_pct_decode(bad[i], strlen(bad[i]), 1, out, sizeof out) == -1, "%s", bad[i]);
	ck_assert_int_eq(url_pct_decode("0123456789abcdef", 16, 1, out, sizeof out), -1); /* no room */
	ck_assert_ptr_null(url_decode_part("p%zz", 4));
	d = url_decode_part("p%40ss+w", 8);
	ck_assert_str_eq(d, "p@ss+w");
	free(d);
	ck_assert_int_eq(query_get("b=x&b=2", "b", &d), 1); /* the first pair counts */
	ck_assert_str_eq(d, "x");
	free(d);
	ck_assert_int_eq(query_get(NULL, "b", &d), 0);
	ck_assert_int_eq(query_copy("t=abc&u=1", "t", out, sizeof out), 3);
	ck_assert_str_eq(out, "abc");
	ck_assert_int_eq(query_copy("t=abc", "u", out, sizeof out), -1);
	ck_assert_int_eq(query_copy("t=%zz", "t", out, sizeof out), -2);
	ck_assert_int_eq(query_copy("t=abc", "t", out, 3), -2);
}
END_TEST

START_TEST(b64url_codec)
{
	const unsigned char in[] = { 0xfb, 0xff, 0x00, 'v', '1' };
	char enc[16];
	unsigned char dec[8];
	for (size_t n = 0; n <= sizeof in; n++) {
		size_t m = b64url_encode(in, n, enc, sizeof enc);
		ck_assert_uint_eq(m, (n * 4 + 2) / 3);
		ck_assert_int_eq(b64url_decode(enc, dec, sizeof dec), (long)n);
		ck_assert(memcmp(in, dec, n) == 0);
	}
	b64url_encode(in, 2, enc, sizeof enc);
	ck_assert_str_eq(enc, "-_8");
	ck_assert_int_eq(b64url_decode("A", dec, sizeof dec), -1);
	ck_assert_int_eq(b64url_decode("A+==", dec, sizeof dec), -1);
	ck_assert_int_eq(b64url_decode("AAAAAAAAAAAA", dec, 8), -1);
	ck_assert(b64url_is_char('-') && b64url_is_char('_') && !b64url_is_char('+') && !b64url_is_char('\0'));
}
END_TEST

/* ---- origin: the one allowed-origin rule (REST, the streams, chatai-ctl) ---------------- */

static const char *norm(const char *s, int wildcard)
{
	static char out[ORIGIN_NORMAL_MAX];
	return origin_normalize(s, wildcard, out, sizeof out) == 0 ? out : NULL;
}

START_TEST(origin_normal_form)
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

START_TEST(origin_malformed)
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

START_TEST(origin_matching)
{
	const char *list[] = { "https://shop.example", "https://*.brand.example", "http://localhost:8080",
		               "https://plain.example:443", NULL };
	const size_t n = 5;
	CHECK_EACH(s, origin_allowed(s, list, n), 1, "https://shop.example", "HTTPS://SHOP.EXAMPLE",
		   "https://shop.example:443", "https://plain.example", "https://plain.example:443",
		   "https://a.brand.example", "https://A.B.Brand.Example:443", "http://localhost:8080");
	CHECK_EACH(s, origin_allowed(s, list, n), 0, "http://plain.example", "http://shop.example",
		   "https://shop.example:8443", "https://evilshop.example", "https://shop.example.evil.com",
		   "https://brand.example", "https://xbrand.example", "https://brand.example.evil",
		   "http://a.brand.example", "https://a.brand.example:8443", "https://a.brand.example/",
		   "http://localhost", "null", "");
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

START_TEST(origin_json_lists)
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

/* ---- idmap ------------------------------------------------------------------------------ */

struct idm_item {
	struct idmap_node node;
	int seen;
};

START_TEST(idmap_finds_adds_and_removes_through_growth)
{
	enum { N = 5000 };
	struct idmap m = { .first = 4 };
	struct idm_item *it = calloc(N, sizeof *it);
	ck_assert_ptr_null(idmap_find(&m, 1));
	ck_assert_ptr_null(idmap_take_any(&m));
	for (int i = 0; i < N; i++) {
		/* ids that collide in naive hashes: multiples of a power of two, and negatives */
		it[i].node.id = (i % 2 ? -1 : 1) * (int64_t)i * 4096;
		idmap_add(&m, &it[i].node);
	}
	ck_assert_uint_eq(m.count, N);
	ck_assert_uint_ge(m.size, N); /* grew from 4 buckets, doubling */
	for (int i = 0; i < N; i++)
		ck_assert_ptr_eq(idmap_find(&m, it[i].node.id), &it[i].node);
	ck_assert_ptr_null(idmap_find(&m, 4096 * 2 + 1));
	for (int i = 0; i < N; i += 2)
		idmap_remove(&m, &it[i].node);
	idmap_remove(&m, &it[0].node); /* not in any more: nothing */
	ck_assert_uint_eq(m.count, N / 2);
	for (int i = 0; i < N; i++)
		ck_assert_ptr_eq(idmap_find(&m, it[i].node.id), i % 2 ? &it[i].node : NULL);
	size_t each = 0;
	IDMAP_EACH(&m, n) {
		((struct idm_item *)n)->seen++;
		each++;
	}
	ck_assert_uint_eq(each, N / 2);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(it[i].seen, i % 2);
	size_t taken = 0;
	for (struct idmap_node *n; (n = idmap_take_any(&m));)
		taken++;
	ck_assert_uint_eq(taken, N / 2);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_ptr_null(idmap_find(&m, it[1].node.id));
	idmap_free(&m);
	ck_assert_ptr_null(m.b);
	idmap_add(&m, &it[1].node); /* usable again after idmap_free */
	ck_assert_ptr_eq(idmap_find(&m, it[1].node.id), &it[1].node);
	idmap_free(&m);
	free(it);
}
END_TEST

/* ---- parse_int64 ------------------------------------------------------------------------ */

START_TEST(int64_parses)
{
	int64_t v = 42;
	ck_assert_int_eq(parse_int64("0", INT64_MIN, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(parse_int64("-0", INT64_MIN, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(parse_int64("007", INT64_MIN, INT64_MAX, &v), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(parse_int64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	ck_assert(v == INT64_MAX);
	ck_assert_int_eq(parse_int64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	ck_assert(v == INT64_MIN);
	ck_assert_int_eq(parse_int64("30", 0, 30, &v), 0);
	ck_assert_int_eq(v, 30);
}
END_TEST

START_TEST(int64_refuses)
{
	int64_t v = 42;
	static const char *const bad[] = {
		"", "-", "--1", "+1", " 1", "1 ", "1a", "a1", "0x10", "1e3", "1.0", "١",
		"9223372036854775808", "-9223372036854775809", "99999999999999999999999", "\t5", "5\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(parse_int64(bad[i], INT64_MIN, INT64_MAX, &v) == -1, "accepted '%s'", bad[i]);
		ck_assert_int_eq(v, 42); /* untouched on failure */
	}
	ck_assert_int_eq(parse_int64(NULL, 0, 10, &v), -1);
	ck_assert_int_eq(parse_int64("31", 0, 30, &v), -1);
	ck_assert_int_eq(parse_int64("-1", 0, 30, &v), -1);
	ck_assert_int_eq(v, 42);
}
END_TEST

/* ---- config ----------------------------------------------------------------------------- */

static char conf_path[64];

static void write_conf(const char *text)
{
	snprintf(conf_path, sizeof conf_path, "/tmp/chatai-test-conf-XXXXXX");
	int fd = mkstemp(conf_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void conf_teardown(void)
{
	if (conf_path[0])
		unlink(conf_path);
	conf_path[0] = '\0';
	unsetenv("CHATAI_CONFIG");
	unsetenv("CHATAI_LOG_LEVEL");
	unsetenv("CHATAI_FCGI_THREADS");
	unsetenv("CHATAI_EMPTY_ENV");
	config_free();
}

START_TEST(config_reads_file)
{
	const char *err = NULL;
	write_conf("# a comment\n"
		   "; another\n"
		   "\n"
		   "database_url = postgresql://u@h/db?sslmode=require&x=1\n"
		   "  Log_Level=debug  \n"
		   "greeting = \"  spaced # not a comment  \"\n"
		   "empty =\n"
		   "notifier.listen = 127.0.0.1:9\n"
		   "half = \"open\n"
		   "fcgi_threads = 8\r\n");
	ck_assert_int_eq(config_load(conf_path, &err), 0);
	ck_assert_str_eq(config_path(), conf_path);
	ck_assert_str_eq(config_get("database_url", NULL), "postgresql://u@h/db?sslmode=require&x=1");
	ck_assert_str_eq(config_get("log_level", NULL), "debug"); /* keys are case-insensitive */
	ck_assert_str_eq(config_get("greeting", NULL), "  spaced # not a comment  ");
	ck_assert_str_eq(config_get("empty", "def"), "def");       /* empty means unset */
	ck_assert_str_eq(config_get("notifier.listen", NULL), "127.0.0.1:9");
	ck_assert_str_eq(config_get("half", NULL), "\"open");      /* unbalanced quote kept */
	ck_assert_int_eq(config_get_int("fcgi_threads", 1), 8);    /* CRLF line end */
	ck_assert_ptr_null(config_get("missing", NULL));
	ck_assert_str_eq(config_get("missing", "d"), "d");
}
END_TEST

START_TEST(config_trailing_comments)
{
	/* An uncommented example line keeps its trailing comment out of the value. */
	const char *err = NULL;
	write_conf("fcgi_listen = 127.0.0.1:9000   # external pool address\n"
		   "fcgi_threads = 16\t# threads\n"
		   "log_level = warn # short\n"
		   "password_ish = pa#ss\n"
		   "quoted = \"a # b\"   # the comment after the quotes\n"
		   "quoted_hash = \"#x\"\n"
		   "only_comment = # nothing but a comment\n"
		   "no_space=#kept\n"
		   "url = postgresql://u@h/db#frag\n"
		   "half_quote = \"open # cut? no: inside an unclosed quote\n");
	ck_assert_int_eq(config_load(conf_path, &err), 0);
	ck_assert_str_eq(config_get("fcgi_listen", NULL), "127.0.0.1:9000");
	ck_assert_int_eq(config_get_int("fcgi_threads", 1), 16);
	ck_assert_str_eq(config_get("log_level", NULL), "warn");
	ck_assert_str_eq(config_get("password_ish", NULL), "pa#ss");
	ck_assert_str_eq(config_get("quoted", NULL), "a # b");
	ck_assert_str_eq(config_get("quoted_hash", NULL), "#x");
	ck_assert_str_eq(config_get("only_comment", "unset"), "unset");
	ck_assert_str_eq(config_get("no_space", NULL), "#kept");
	ck_assert_str_eq(config_get("url", NULL), "postgresql://u@h/db#frag");
	ck_assert_str_eq(config_get("half_quote", NULL), "\"open # cut? no: inside an unclosed quote");
}
END_TEST

static void count_key(const char *key, const char *value, void *arg)
{
	(void)value;
	if (strcmp(key, "log_levle") == 0 || strcmp(key, "fcgi_threads") == 0)
		++*(int *)arg;
}

START_TEST(config_each_file_key_lists_the_file)
{
	const char *err = NULL;
	int n = 0;
	write_conf("Log_Levle = debug\nfcgi_threads = 4\n");
	setenv("CHATAI_LOG_LEVEL", "error", 1); /* the environment is not listed */
	ck_assert_int_eq(config_load(conf_path, &err), 0);
	config_each_file_key(count_key, &n);
	ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(config_env_overrides_file_and_set_overrides_env)
{
	const char *err = NULL;
	write_conf("log_level = warn\nfcgi_threads = 8\n");
	setenv("CHATAI_CONFIG", conf_path, 1);
	ck_assert_int_eq(config_load(NULL, &err), 0); /* $CHATAI_CONFIG names the file */
	ck_assert_str_eq(config_get("log_level", NULL), "warn");
	setenv("CHATAI_LOG_LEVEL", "error", 1);
	ck_assert_str_eq(config_get("log_level", NULL), "error");
	setenv("CHATAI_LOG_LEVEL", "debug", 1); /* a changed environment is seen */
	ck_assert_str_eq(config_get("log_level", NULL), "debug");
	setenv("CHATAI_EMPTY_ENV", "", 1);
	ck_assert_str_eq(config_get("empty_env", "def"), "def");
	config_set("log_level", "info");
	ck_assert_str_eq(config_get("log_level", NULL), "info");
	/* reload keeps config_set() values and re-reads the file */
	ck_assert_int_eq(config_load(NULL, &err), 0);
	ck_assert_str_eq(config_get("log_level", NULL), "info");
	ck_assert_int_eq(config_get_int("fcgi_threads", 1), 8);
	setenv("CHATAI_FCGI_THREADS", "12", 1);
	ck_assert_int_eq(config_get_int("fcgi_threads", 1), 12);
}
END_TEST

START_TEST(config_bad_lines)
{
	const char *err = NULL;
	write_conf("a = 1\nthis line has no equals sign\n");
	ck_assert_int_eq(config_load(conf_path, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, ":2:"));
	unlink(conf_path);

	write_conf("bad key = 1\n");
	ck_assert_int_eq(config_load(conf_path, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, ":1:"));
	unlink(conf_path);

	write_conf(" = value\n");
	ck_assert_int_eq(config_load(conf_path, &err), -1);
	unlink(conf_path);

	write_conf("k$y = 1\n");
	ck_assert_int_eq(config_load(conf_path, &err), -1);
	unlink(conf_path);

	/* a failed load keeps the previous settings */
	write_conf("keep = yes\n");
	ck_assert_int_eq(config_load(conf_path, &err), 0);
	unlink(conf_path);
	write_conf("keep = no\nbroken\n");
	ck_assert_int_eq(config_load(conf_path, &err), -1);
	ck_assert_str_eq(config_get("keep", NULL), "yes");

	ck_assert_int_eq(config_load("/nonexistent/chatai.conf", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/chatai.conf"));
}
END_TEST

START_TEST(config_long_line_is_an_error_not_a_split)
{
	/* A value longer than the line buffer must not be cut silently, nor its tail be
	 * read as a line of its own ("de=require" below would become a key). */
	const char *err = NULL;
	char *line = repeat("x", 5000, "database_url = postgresql://h/d?a=", "&sslmode=require\n");
	write_conf(line);
	free(line);
	int rc = config_load(conf_path, &err);
	if (rc == 0) {
		const char *v = config_get("database_url", "");
		ck_assert_msg(strstr(v, "sslmode=require") != NULL, "long value was cut");
	} else {
		ck_assert_ptr_nonnull(strstr(err, ":1:"));
	}
	ck_assert_ptr_null(config_get("mode", NULL));
	ck_assert_ptr_null(config_get("de", NULL));
}
END_TEST

START_TEST(config_typed_getters)
{
	config_set("i_ok", "-15");
	config_set("i_bad", "15s");
	config_set("i_big", "99999999999999999999");
	ck_assert_int_eq(config_get_int("i_ok", 3), -15);
	ck_assert_int_eq(config_get_int("i_bad", 3), 3);
	ck_assert_int_eq(config_get_int("i_big", 3), 3);
	ck_assert_int_eq(config_get_int("i_missing", 3), 3);
	static const char *const yes[] = { "1", "yes", "TRUE", "On" };
	static const char *const no[] = { "0", "no", "False", "OFF" };
	for (int i = 0; i < 4; i++) {
		config_set("b", yes[i]);
		ck_assert_int_eq(config_get_bool("b", 0), 1);
		config_set("b", no[i]);
		ck_assert_int_eq(config_get_bool("b", 1), 0);
	}
	config_set("b", "maybe");
	ck_assert_int_eq(config_get_bool("b", 1), 1);
	ck_assert_int_eq(config_get_bool("b", 0), 0);
}
END_TEST

/* ---- settings: the table of settings.def, its rules and getters ------------------------- */

START_TEST(settings_table_is_whole)
{
	ck_assert_int_eq(SET_COUNT, 49);
	ck_assert_str_eq(settings_table[SET_ai_timeout].key, "ai_timeout");
	ck_assert_ptr_eq(settings_find("ai_timeout"), &settings_table[SET_ai_timeout]);
	ck_assert_ptr_null(settings_find("ai_timeouts"));
	ck_assert_str_eq(settings_nearest("ai_timeuot"), "ai_timeout"); /* transposition */
	ck_assert_str_eq(settings_nearest("log_levle"), "log_level");
	ck_assert_ptr_null(settings_nearest("frobnicate"));
	for (size_t i = 0; i < SET_COUNT; i++) {
		const struct setting *t = &settings_table[i];
		char buf[256];
		ck_assert_msg(t->users != 0 && t->doc[0], "%s", t->key);
		/* every default obeys its own rule */
		if (t->def)
			ck_assert_msg(settings_problem(t, t->def, buf, sizeof buf) == NULL, "%s = %s", t->key, t->def);
	}
}
END_TEST

static const char *problem(enum setting_id id, const char *v)
{
	static char buf[512];
	return settings_problem(&settings_table[id], v, buf, sizeof buf);
}

START_TEST(settings_rules)
{
	ck_assert_ptr_null(problem(SET_ai_timeout, "600"));
	ck_assert_str_eq(problem(SET_ai_timeout, "601"), "expected an integer from 1 to 600");
	ck_assert_str_eq(problem(SET_token_ttl, "59"), "expected an integer >= 60");
	ck_assert_ptr_nonnull(problem(SET_token_ttl, "1h"));
	ck_assert_ptr_null(problem(SET_log_level, "WARNING")); /* log_* in any case, as log_init */
	ck_assert_str_eq(problem(SET_fcgi_poll_mode, "Long"), "expected one of auto long short");
	ck_assert_ptr_null(problem(SET_database_url, "postgresql://u@h/db"));
	ck_assert_ptr_nonnull(problem(SET_database_url, "host='unterminated"));
	ck_assert_ptr_nonnull(problem(SET_redis_url, "http://x"));
	ck_assert_ptr_null(problem(SET_ai_base_url, "https://api.example/v1"));
	ck_assert_ptr_nonnull(problem(SET_ai_base_url, "api.example"));
	ck_assert_ptr_nonnull(problem(SET_public_url, "https://"));
	ck_assert_ptr_null(problem(SET_smtp_url, "sendmail:"));
	ck_assert_ptr_null(problem(SET_smtp_url, "smtps://user:pw@mail.example:465"));
	ck_assert_ptr_nonnull(problem(SET_smtp_url, "sendmail"));
	ck_assert_ptr_nonnull(problem(SET_smtp_url, "smtp://mail example"));
	ck_assert_ptr_null(problem(SET_mail_from, "chat@shop.example"));
	ck_assert_ptr_nonnull(problem(SET_mail_from, "Chat <chat@shop.example>\r\nBcc: x@y"));
	ck_assert_ptr_null(problem(SET_mail_alert_to, "a@b.example, c@d.example"));
	ck_assert_str_eq(problem(SET_mail_alert_to, "a@b.example,nobody"), "'nobody': not an email address");
	ck_assert_ptr_nonnull(problem(SET_mail_alert_to, " , "));
	ck_assert_ptr_null(problem(SET_notifier_listen, "127.0.0.1:8081, [::1]:8081"));
	ck_assert_ptr_nonnull(problem(SET_notifier_listen, "localhost:8081"));
	ck_assert_ptr_nonnull(problem(SET_notifier_listen, "127.0.0.1:0"));
	ck_assert_ptr_null(problem(SET_notifier_trusted_proxies, "none"));
	ck_assert_ptr_nonnull(problem(SET_notifier_trusted_proxies, "10.0.0.1,proxy"));
	ck_assert_ptr_null(problem(SET_fcgi_listen, "/tmp/chatai.sock"));
	ck_assert_ptr_nonnull(problem(SET_fcgi_listen, "/no/such/dir/chatai.sock"));
}
END_TEST

START_TEST(settings_getters_apply_the_policy)
{
	int64_t v = -1;
	ck_assert_int_eq(settings_int(SET_ai_timeout, &v), 0);
	ck_assert_int_eq(v, 20); /* unset: the table's default */
	v = 77;
	ck_assert_int_eq(settings_int(SET_ai_lease, &v), 0);
	ck_assert_int_eq(v, 77); /* no default in the table: the caller's */
	config_set("ai_timeout", "900");
	ck_assert_int_eq(settings_int(SET_ai_timeout, &v), -1); /* SP_REFUSE */
	config_set("ai_timeout", "soon");
	ck_assert_int_eq(settings_int(SET_ai_timeout, &v), 0);
	ck_assert_int_eq(v, 20); /* not a number: the default, for every key */
	config_set("auth_cache_ttl", "600");
	ck_assert_int_eq(settings_int(SET_auth_cache_ttl, &v), 0);
	ck_assert_int_eq(v, 300); /* SP_FALLBACK: the nearest bound */
	config_set("notifier_max_queue", "10");
	ck_assert_int_eq(settings_int(SET_notifier_max_queue, &v), 0);
	ck_assert_int_eq(v, 4096);
	ck_assert_str_eq(settings_str(SET_fcgi_poll_mode), "auto");
	ck_assert_ptr_null(settings_str(SET_smtp_url));
	char buf[160];
	settings_consequence(&settings_table[SET_auth_cache_ttl], "600", buf, sizeof buf);
	ck_assert_str_eq(buf, "chatai.fcgi uses 300 instead");
	settings_consequence(&settings_table[SET_ai_timeout], "900", buf, sizeof buf);
	ck_assert_str_eq(buf, "chatai-ai refuses to start");
	settings_consequence(&settings_table[SET_notifier_ping_interval], "x", buf, sizeof buf);
	ck_assert_str_eq(buf, "chatai-notifier uses the default, 25");
	settings_consequence(&settings_table[SET_mail_alert_delay], "-1", buf, sizeof buf);
	ck_assert_str_eq(buf, "no mail is sent");
	config_set("mail_alert_delay", "-1");
	ck_assert_int_eq(settings_int(SET_mail_alert_delay, &v), -1); /* SP_MAIL_OFF */
	settings_consequence(&settings_table[SET_notifier_trusted_proxies], "proxy", buf, sizeof buf);
	ck_assert_str_eq(buf, "chatai-notifier ignores it");
}
END_TEST

/* ---- json_parse_body and accessors ------------------------------------------------------ */

static enum json_parse_err parse_err(const char *s, size_t len)
{
	enum json_parse_err e = JSON_OK;
	cJSON *v = json_parse_body(s, len, &e);
	if (v) {
		ck_assert_int_eq(e, JSON_OK);
		cJSON_Delete(v);
	} else {
		ck_assert_int_ne(e, JSON_OK);
	}
	return e;
}
#define PE(lit) parse_err(lit, sizeof(lit) - 1)

START_TEST(json_body_rules)
{
	ck_assert_int_eq(PE("{}"), JSON_OK);
	ck_assert_int_eq(PE(" {\"a\": [1, {\"b\": null}]} \r\n\t"), JSON_OK);
	ck_assert_int_eq(PE("{\"t\": \"caf\\u00e9 \\ud83d\\ude42\"}"), JSON_OK);
	/* not an object at the top */
	ck_assert_int_eq(PE("[]"), JSON_NOT_OBJECT);
	ck_assert_int_eq(PE("1"), JSON_NOT_OBJECT);
	ck_assert_int_eq(PE("\"s\""), JSON_NOT_OBJECT);
	ck_assert_int_eq(PE("null"), JSON_NOT_OBJECT);
	/* not JSON */
	ck_assert_int_eq(PE(""), JSON_INVALID);
	ck_assert_int_eq(PE("{"), JSON_INVALID);
	ck_assert_int_eq(PE("{\"a\":}"), JSON_INVALID);
	ck_assert_int_eq(PE("{'a': 1}"), JSON_INVALID);
	ck_assert_int_eq(PE("text=hello"), JSON_INVALID);
	/* trailing junk */
	ck_assert_int_eq(PE("{} x"), JSON_INVALID);
	ck_assert_int_eq(PE("{}{}"), JSON_INVALID);
	ck_assert_int_eq(PE("{},"), JSON_INVALID);
	enum json_parse_err e;
	ck_assert_ptr_null(json_parse_body(NULL, 0, &e));
	ck_assert_int_eq(e, JSON_INVALID);
	/* the length is honoured */
	ck_assert_int_eq(parse_err("{}junk", 2), JSON_OK);
	ck_assert_int_eq(parse_err("{\"a\":1}", 3), JSON_INVALID);
}
END_TEST

START_TEST(json_body_refuses_nul)
{
	ck_assert_int_eq(PE("{\"t\": \"a\\u0000b\"}"), JSON_HAS_NUL);
	ck_assert_int_eq(PE("{\"t\\u0000\": 1}"), JSON_HAS_NUL);
	ck_assert_int_eq(PE("{\"t\": \"\\\\\\u0000\"}"), JSON_HAS_NUL); /* \\ then \u0000 */
	ck_assert_int_eq(PE("{\"t\": \"a\0b\"}"), JSON_HAS_NUL);         /* raw NUL byte */
	ck_assert_int_eq(PE("{}\0"), JSON_HAS_NUL);
	/* an escaped backslash followed by the text u0000 is not a NUL */
	ck_assert_int_eq(PE("{\"t\": \"\\\\u0000\"}"), JSON_OK);
	ck_assert_int_eq(PE("{\"t\": \"\\u0001\\u00000\"}"), JSON_HAS_NUL);
	ck_assert_int_eq(PE("{\"t\": \"\\u0001\"}"), JSON_OK);
}
END_TEST

START_TEST(json_accessors)
{
	enum json_parse_err e;
	const char body[] = "{\"s\":\"x\",\"n\":5,\"f\":1.5,\"big\":9007199254740994,\"neg\":-3,"
			    "\"b\":true,\"z\":null,\"ns\":\"5\",\"arr\":[1]}";
	cJSON *o = json_parse_body(body, sizeof body - 1, &e);
	ck_assert_ptr_nonnull(o);
	const char *s = NULL;
	int64_t n = 0;
	int b = -1;
	ck_assert_int_eq(json_get_str(o, "s", &s), 0);
	ck_assert_str_eq(s, "x");
	ck_assert_int_eq(json_get_str(o, "n", &s), -2);
	ck_assert_int_eq(json_get_str(o, "z", &s), -1);
	ck_assert_int_eq(json_get_str(o, "missing", &s), -1);
	ck_assert_int_eq(json_get_int64(o, "n", &n), 0);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(json_get_int64(o, "neg", &n), 0);
	ck_assert_int_eq(n, -3);
	ck_assert_int_eq(json_get_int64(o, "f", &n), -2);
	ck_assert_int_eq(json_get_int64(o, "big", &n), -2);
	ck_assert_int_eq(json_get_int64(o, "ns", &n), -2);
	ck_assert_int_eq(json_get_int64(o, "arr", &n), -2);
	ck_assert_int_eq(json_get_int64(o, "z", &n), -1);
	ck_assert_int_eq(json_get_bool(o, "b", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(json_get_bool(o, "n", &b), -2);
	ck_assert_int_eq(json_get_bool(o, "S", &b), -1); /* keys are case-sensitive */
	cJSON_Delete(o);

	char *err = json_error("validation_failed", "text \"quoted\" \xC3\xA9", "text");
	cJSON *back = cJSON_Parse(err);
	ck_assert_ptr_nonnull(back);
	cJSON *eo = cJSON_GetObjectItemCaseSensitive(back, "error");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(eo, "code")->valuestring, "validation_failed");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(eo, "message")->valuestring, "text \"quoted\" \xC3\xA9");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(eo, "field")->valuestring, "text");
	cJSON_Delete(back);
	free(err);
	err = json_error("not_found", "no such dialog", NULL);
	ck_assert_str_eq(err, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such dialog\"}}");
	free(err);
}
END_TEST

/* ---- tokens and passwords --------------------------------------------------------------- */

START_TEST(token_format)
{
	char a[TOKEN_CHARS + 1], b[TOKEN_CHARS + 1];
	ck_assert_int_eq(token_new(a), 0);
	ck_assert_int_eq(token_new(b), 0);
	ck_assert_uint_eq(strlen(a), 43);
	ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	ck_assert_str_ne(a, b);
	ck_assert(token_well_formed(a));
	ck_assert(token_well_formed(b));
	a[5] = '+';
	ck_assert(!token_well_formed(a));
	a[5] = '=';
	ck_assert(!token_well_formed(a));
	ck_assert(!token_well_formed(NULL));
	ck_assert(!token_well_formed(""));
	ck_assert(!token_well_formed("short"));
	char *long44 = repeat("A", 44, "", "");
	ck_assert(!token_well_formed(long44));
	long44[43] = '\0';
	ck_assert(token_well_formed(long44));
	free(long44);
}
END_TEST

START_TEST(token_hash_and_equal)
{
	char h[TOKEN_HASH_CHARS + 1];
	token_hash("abc", h);
	ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	token_hash("", h);
	ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert(token_equal("same", "same"));
	ck_assert(token_equal("", ""));
	ck_assert(!token_equal("same", "Same"));
	ck_assert(!token_equal("same", "same "));
	ck_assert(!token_equal("abc", "ab"));
	ck_assert(!token_equal("", "a"));
}
END_TEST

START_TEST(password_hash_verify)
{
	char *h1 = NULL, *h2 = NULL;
	ck_assert_int_eq(password_hash("correct horse", &h1), 0);
	ck_assert_int_eq(password_hash("correct horse", &h2), 0);
	ck_assert_ptr_nonnull(h1);
	ck_assert(strncmp(h1, "$y$", 3) == 0);
	ck_assert_str_ne(h1, h2); /* fresh salt each time */
	ck_assert_ptr_null(strstr(h1, "correct"));
	ck_assert(password_verify("correct horse", h1));
	ck_assert(password_verify("correct horse", h2));
	ck_assert(!password_verify("correct hors", h1));
	ck_assert(!password_verify("correct horse ", h1));
	ck_assert(!password_verify("", h1));
	ck_assert(!password_verify("correct horse", NULL));
	ck_assert(!password_verify("correct horse", ""));
	ck_assert(!password_verify("correct horse", "plain"));
	ck_assert(!password_verify("correct horse", "$y$"));
	ck_assert(!password_verify("correct horse", "$y$garbage$"));
	free(h1);
	free(h2);

	/* libxcrypt takes pass phrases of up to 511 bytes; longer ones fail cleanly */
	char *long_pw = repeat("p\xC3\xA9", 170, "a", ""); /* 511 bytes */
	ck_assert_int_eq(password_hash(long_pw, &h1), 0);
	ck_assert(password_verify(long_pw, h1));
	long_pw[0] = 'q';
	ck_assert(!password_verify(long_pw, h1));
	free(long_pw);
	long_pw = repeat("x", 512, "", "");
	ck_assert_int_eq(password_hash(long_pw, &h2), -1);
	ck_assert_ptr_null(h2);
	ck_assert(!password_verify(long_pw, h1));
	free(h1);
	free(long_pw);
}
END_TEST

/* ---- log_redact ------------------------------------------------------------------------- */

static void redacts(const char *in, const char *want)
{
	char out[256];
	log_redact(in, out, sizeof out);
	ck_assert_str_eq(out, want);
}

START_TEST(log_redaction)
{
	redacts("/ws/dialogs/7?token=abc.DEF-123&since=4", "/ws/dialogs/7?token=***&since=4");
	redacts("/ws/widget/dialogs/7?assistant_id=1&visitor_token=SECRET",
		"/ws/widget/dialogs/7?assistant_id=1&visitor_token=***");
	redacts("token=abc", "token=***");
	redacts("a=1;password=hunter2;b=2", "a=1;password=***;b=2");
	redacts("?key=k1&token=t2&x=y", "?key=***&token=***&x=y");
	redacts("?token=", "?token=***");
	redacts("?token=abc def", "?token=*** def");
	/* names that merely end like a secret are left alone */
	redacts("?monkey=1&atoken=2&xpassword=3", "?monkey=1&atoken=2&xpassword=3");
	redacts("/path/token=x", "/path/token=x");
	redacts("no secrets here", "no secrets here");
	redacts("", "");
}
END_TEST

START_TEST(log_redaction_bounds)
{
	char out[8];
	memset(out, 'Z', sizeof out);
	log_redact("?token=abcdefgh", out, sizeof out);
	ck_assert_uint_lt(strlen(out), sizeof out);
	ck_assert_ptr_null(strstr(out, "abc"));
	memset(out, 'Z', sizeof out);
	log_redact("0123456789", out, sizeof out);
	ck_assert_str_eq(out, "0123456");
	memset(out, 'Z', sizeof out);
	log_redact("anything", out, 1);
	ck_assert_str_eq(out, "");
	memset(out, 'Z', sizeof out);
	log_redact("anything", out, 0);
	ck_assert_int_eq(out[0], 'Z'); /* nothing written */
}
END_TEST

/* ---- allocation helpers ------------------------------------------------------------------ */

START_TEST(string_helpers)
{
	char *s = xasprintf("%s-%d-%05.1f", "a", 42, 3.14159);
	ck_assert_str_eq(s, "a-42-003.1");
	free(s);
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
	s = xasprintf("%s", "");
	ck_assert_str_eq(s, "");
	free(s);
	int64_t a = now_ms(), b = now_ms();
	ck_assert(b >= a);
}
END_TEST

/* Issue 12, item 10: IPv6 counts per /64, IPv4 per address. */
START_TEST(limit_keys_per_64)
{
	static const struct {
		const char *addr, *key;
		size_t size; /* of the key's buffer */
	} keys[] = {
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64", 64 },
		{ "2001:db8:1:2::1", "2001:db8:1:2::/64", 64 },
		{ "2001:db8:1:3::1", "2001:db8:1:3::/64", 64 },
		{ "::1", "::/64", 64 },
		{ "192.0.2.7", "192.0.2.7", 64 },
		{ "::ffff:192.0.2.7", "192.0.2.7", 64 },
		{ "not an address", "not an address", 64 },
		{ NULL, "", 64 },
		{ "2001:db8:1:2::1", "2001", 5 },
	};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char k[64];
		addr_limit_key(keys[i].addr, k, keys[i].size);
		ck_assert_str_eq(k, keys[i].key);
	}

	unsigned char a[16], b[16];
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", a), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8:1:2::", b), 1);
	addr_prefix64(a);
	ck_assert_mem_eq(a, b, 16);
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:10.1.2.3", a), 1);
	memcpy(b, a, 16);
	addr_prefix64(a);
	ck_assert_mem_eq(a, b, 16); /* IPv4: the whole address */
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	check_case(s, "utf8", CHECK_TESTS(utf8_accepts_well_formed, utf8_refuses_overlongs,
					  utf8_refuses_surrogates_and_out_of_range, utf8_refuses_truncated_and_stray,
					  utf8_counts_code_points));
	check_case(s, "text", CHECK_TESTS(text_length_limits, text_trimming, text_refuses_nul_and_bad_utf8,
					  text_names_greetings_emails, origin_normal_form, origin_malformed, origin_matching,
					  origin_json_lists, query_basic, query_decoding, url_decoding_rule, b64url_codec));
	check_case(s, "int64", CHECK_TESTS(int64_parses, int64_refuses));
	check_case(s, "idmap", CHECK_TESTS(idmap_finds_adds_and_removes_through_growth));
	TCase *conf = check_case(s, "config", CHECK_TESTS(config_reads_file, config_trailing_comments,
							   config_each_file_key_lists_the_file,
							   config_env_overrides_file_and_set_overrides_env,
							   config_bad_lines, config_long_line_is_an_error_not_a_split,
							   config_typed_getters));
	tcase_add_checked_fixture(conf, NULL, conf_teardown);
	TCase *settings = check_case(s, "settings", CHECK_TESTS(settings_table_is_whole, settings_rules,
								 settings_getters_apply_the_policy));
	tcase_add_checked_fixture(settings, NULL, conf_teardown);
	check_case(s, "json", CHECK_TESTS(json_body_rules, json_body_refuses_nul, json_accessors));
	TCase *token = check_case(s, "token", CHECK_TESTS(token_format, token_hash_and_equal, password_hash_verify));
	tcase_set_timeout(token, 30); /* yescrypt is slow on purpose, more so under Valgrind */
	check_case(s, "log", CHECK_TESTS(log_redaction, log_redaction_bounds, string_helpers, limit_keys_per_64));
	return s;
}

int main(void)
{
	json_init();
	log_init("test_common", "stderr", "error"); /* config warnings are expected here */
	int status = check_run(common_suite(), CK_FORK_GETENV);
	config_free();
	return status;
}
