/* SPDX-License-Identifier: MIT */
/* Unit tests of fcgi/authcache.c: when an entry may be trusted, and every way it is forgotten. */
#include "autoconfig.h"
#include "authcache.h"
#include "check_run.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int pfd[2] = { -1, -1 };

static void hash_of(int i, char out[AC_HASH_CHARS + 1])
{
	snprintf(out, AC_HASH_CHARS + 1, "%064x", i);
}

static void put_session(int i, int64_t sid, int64_t op, int64_t expires)
{
	char h[AC_HASH_CHARS + 1];
	hash_of(i, h);
	struct ac_session s = { .session_id = sid, .operator_id = op, .is_admin = 1, .expires_s = expires,
	                        .json = "{\"id\":1}" };
	authcache_session_put(h, &s, authcache_gen());
}

static int has_session(int i)
{
	char h[AC_HASH_CHARS + 1];
	hash_of(i, h);
	struct ac_session s;
	if (!authcache_session_get(h, &s))
		return 0;
	ck_assert_str_eq(s.json, "{\"id\":1}");
	free(s.json);
	return 1;
}

static void setup(void)
{
	ck_assert_int_eq(pipe(pfd), 0);
	authcache_init(10);
	authcache_listening(pfd[0]);
}

static void teardown(void)
{
	authcache_listening(-1);
	close(pfd[0]);
	close(pfd[1]);
}

START_TEST(hit_and_copy)
{
	int64_t later = (int64_t)time(NULL) + 3600;
	put_session(1, 10, 100, later);
	ck_assert(has_session(1));
	ck_assert(!has_session(2));
	struct ac_dialog d = { .assistant_id = 7, .allowed_json = "[\"https://a.example\"]" };
	hash_of(9, d.token_hash);
	authcache_dialog_put(55, &d, authcache_gen());
	struct ac_dialog got;
	ck_assert(authcache_dialog_get(55, d.token_hash, &got));
	ck_assert_int_eq(got.assistant_id, 7);
	ck_assert_str_eq(got.allowed_json, "[\"https://a.example\"]");
	ck_assert_str_eq(got.token_hash, d.token_hash);
	free(got.allowed_json);
	ck_assert(!authcache_dialog_get(56, d.token_hash, &got));
	/* a dialog opens to several tokens: each is its own entry, another hash misses */
	struct ac_dialog d2 = d;
	hash_of(10, d2.token_hash);
	ck_assert(!authcache_dialog_get(55, d2.token_hash, &got));
	authcache_dialog_put(55, &d2, authcache_gen());
	ck_assert(authcache_dialog_get(55, d2.token_hash, &got));
	free(got.allowed_json);
	ck_assert(authcache_dialog_get(55, d.token_hash, &got));
	free(got.allowed_json);
}
END_TEST

START_TEST(not_listening_means_off)
{
	authcache_listening(-1);
	put_session(1, 10, 100, (int64_t)time(NULL) + 3600);
	ck_assert(!has_session(1));
	authcache_listening(pfd[0]);
	ck_assert(!has_session(1)); /* a fresh link starts empty */
	put_session(1, 10, 100, (int64_t)time(NULL) + 3600);
	ck_assert(has_session(1));
	authcache_listening(-1);
	authcache_listening(pfd[0]);
	ck_assert(!has_session(1));
}
END_TEST

START_TEST(stale_generation_is_not_stored)
{
	char h[AC_HASH_CHARS + 1];
	hash_of(3, h);
	uint64_t g = authcache_gen();
	ck_assert(authcache_note("revoke", 999)); /* any invalidation in between */
	struct ac_session s = { .session_id = 1, .operator_id = 2, .expires_s = (int64_t)time(NULL) + 60, .json = "{}" };
	authcache_session_put(h, &s, g);
	struct ac_session out;
	ck_assert(!authcache_session_get(h, &out));
}
END_TEST

START_TEST(notes_forget_what_they_name)
{
	int64_t later = (int64_t)time(NULL) + 3600;
	put_session(1, 10, 100, later);
	put_session(2, 11, 100, later);
	put_session(3, 12, 200, later);
	ck_assert(authcache_note("revoke", 10));
	ck_assert(!has_session(1));
	ck_assert(has_session(2) && has_session(3));
	ck_assert(authcache_note("operator", 100));
	ck_assert(!has_session(2));
	ck_assert(has_session(3));
	struct ac_dialog d = { .assistant_id = 7, .allowed_json = "[]" };
	hash_of(1, d.token_hash);
	authcache_dialog_put(1, &d, authcache_gen());
	d.assistant_id = 8;
	authcache_dialog_put(2, &d, authcache_gen());
	ck_assert(authcache_note("assistant", 7));
	struct ac_dialog got;
	ck_assert(!authcache_dialog_get(1, d.token_hash, &got));
	ck_assert(authcache_dialog_get(2, d.token_hash, &got));
	free(got.allowed_json);
	ck_assert(!authcache_note("msg", 1)); /* not a cache event */
	ck_assert(has_session(3));
	authcache_flush();
	ck_assert(!has_session(3));
}
END_TEST

START_TEST(unread_notifications_or_busy_mean_miss)
{
	put_session(1, 10, 100, (int64_t)time(NULL) + 3600);
	ck_assert(has_session(1));
	ck_assert_int_eq(write(pfd[1], "x", 1), 1); /* a NOTIFY not read yet */
	ck_assert(!has_session(1));
	char c;
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert(has_session(1));
	authcache_busy(1); /* the dispatcher is applying notifications */
	ck_assert(!has_session(1));
	authcache_busy(0);
	ck_assert(has_session(1));
}
END_TEST

START_TEST(expiry_and_ttl)
{
	put_session(1, 10, 100, (int64_t)time(NULL) - 1); /* the session has expired */
	ck_assert(!has_session(1));
	authcache_init(0); /* 0: never cache */
	put_session(2, 11, 100, (int64_t)time(NULL) + 3600);
	ck_assert(!has_session(2));
	authcache_init(1);
	put_session(3, 12, 100, (int64_t)time(NULL) + 3600);
	ck_assert(has_session(3));
	usleep(1100 * 1000);
	ck_assert(!has_session(3));
}
END_TEST

START_TEST(many_entries)
{
	int64_t later = (int64_t)time(NULL) + 3600;
	for (int i = 0; i < 20000; i++)
		put_session(i, i, i, later);
	ck_assert(has_session(19999));
	for (int i = 0; i < 20000; i++) {
		struct ac_dialog d = { .assistant_id = i, .allowed_json = "[]" };
		hash_of(i, d.token_hash);
		authcache_dialog_put(i, &d, authcache_gen());
	}
	struct ac_dialog got;
	char h[AC_HASH_CHARS + 1];
	hash_of(19999, h);
	ck_assert(authcache_dialog_get(19999, h, &got));
	free(got.allowed_json);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("authcache");
	TCase *t = check_case(s, "cache", CHECK_TESTS(hit_and_copy, not_listening_means_off,
						       stale_generation_is_not_stored, notes_forget_what_they_name,
						       unread_notifications_or_busy_mean_miss, expiry_and_ttl,
						       many_entries));
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 20);
	return check_run(s, CK_FORK_GETENV);
}
