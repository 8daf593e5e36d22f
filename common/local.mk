# SPDX-License-Identifier: MIT
# common/: the small library every program links.
noinst_LIBRARIES += common/libchatai.a
common_libchatai_a_SOURCES = \
	common/config.c common/config.h \
	common/daemon.c common/daemon.h \
	common/dlist.h \
	common/idmap.c common/idmap.h \
	common/settings.c common/settings.h common/settings.def \
	common/log.c common/log.h \
	common/db.c common/db.h \
	common/json.c common/json.h \
	common/token.c common/token.h \
	common/b64url.c common/b64url.h \
	common/util.c common/util.h \
	common/buf.c common/buf.h \
	common/url.c common/url.h \
	common/text.c common/text.h \
	common/origin.c common/origin.h \
	common/typing.c common/typing.h \
	common/credis.c common/credis.h \
	common/credis_url.c \
	common/mailaddr.c common/mailaddr.h
common_libchatai_a_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(CJSON_CFLAGS) $(SSL_CFLAGS) $(CRYPT_CFLAGS) \
	$(HIREDIS_CFLAGS)

# What a program that links common/libchatai.a adds to its LDADD.
CHATAI_COMMON_LIBS = common/libchatai.a $(PQ_LIBS) $(CJSON_LIBS) $(SSL_LIBS) $(CRYPT_LIBS) \
	$(HIREDIS_LIBS)
CHATAI_COMMON_CFLAGS = $(PQ_CFLAGS) $(CJSON_CFLAGS) $(SSL_CFLAGS) $(CRYPT_CFLAGS) $(HIREDIS_CFLAGS)

# What every unit test (Check; check_PROGRAMS, all of them in TESTS) compiles with and links;
# each adds its part's headers (-I) and libraries. A test's source is tests/unit/NAME.c,
# automake's default, unless it lists more.
CHATAI_CHECK_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CHECK_CFLAGS)
CHATAI_CHECK_LIBS = $(CHATAI_COMMON_LIBS) $(CHECK_LIBS)

# Unit tests of common/. test_credis also covers notifier/redis_sub.c (on notifier/loop.c's
# loop): it starts its own redis-server on a free port (the test exits 77, "skipped",
# without one).
if HAVE_CHECK
check_PROGRAMS += tests/unit/test_common tests/unit/test_credis
tests_unit_test_common_CFLAGS = $(CHATAI_CHECK_CFLAGS)
tests_unit_test_common_LDADD = $(CHATAI_CHECK_LIBS)
tests_unit_test_credis_SOURCES = tests/unit/test_credis.c notifier/redis_sub.c notifier/redis_sub.h \
	notifier/loop.c notifier/loop.h
tests_unit_test_credis_CFLAGS = $(CHATAI_CHECK_CFLAGS) -I$(top_srcdir)/notifier
tests_unit_test_credis_LDADD = $(CHATAI_CHECK_LIBS) $(EV_LIBS)
endif
