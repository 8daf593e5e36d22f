# SPDX-License-Identifier: MIT
# notifier/: the streams daemon (WebSocket + SSE), its unit tests and bench programs (the
# fuzz drivers are built by tests/fuzz/run-short.sh). The file map is in docs/streams.md.
NOTIFIER_CORE = \
	notifier/auth.c notifier/auth.h \
	notifier/client.h \
	notifier/conn.c notifier/conn.h \
	notifier/cursor.c notifier/cursor.h \
	notifier/http.c notifier/http.h \
	notifier/hub.c notifier/hub.h \
	notifier/listener.c \
	notifier/loop.c notifier/loop.h \
	notifier/mailstate.c notifier/mailstate.h \
	notifier/metrics.c notifier/metrics.h \
	notifier/outq.c notifier/outq.h \
	notifier/pgfeed.c notifier/pgfeed.h \
	notifier/redis_sub.c notifier/redis_sub.h \
	notifier/request.c \
	notifier/revoke.c \
	notifier/sse.c notifier/sse.h \
	notifier/transport_http.c \
	notifier/transport_sse.c \
	notifier/transport_ws.c \
	notifier/ws.c notifier/ws.h \
	notifier/wstyping.c notifier/wstyping.h

NOTIFIER_LIBS = $(CHATAI_COMMON_LIBS) $(EV_LIBS) $(WSLAY_LIBS) $(HTTP_PARSER_LIBS) -lm

sbin_PROGRAMS += notifier/chatai-notifier
notifier_chatai_notifier_SOURCES = notifier/main.c $(NOTIFIER_CORE)
notifier_chatai_notifier_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS)
notifier_chatai_notifier_LDADD = $(NOTIFIER_LIBS)

# All of NOTIFIER_CORE, linked into the unit tests (which exercise its pure parts).
noinst_LIBRARIES += notifier/libnotifier.a
notifier_libnotifier_a_SOURCES = $(NOTIFIER_CORE)
notifier_libnotifier_a_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS)

if HAVE_CHECK
check_PROGRAMS += tests/unit/test_notifier
TESTS += tests/unit/test_notifier
tests_unit_test_notifier_SOURCES = tests/unit/test_notifier.c
tests_unit_test_notifier_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CHECK_CFLAGS) -I$(top_srcdir)/notifier
tests_unit_test_notifier_LDADD = notifier/libnotifier.a $(NOTIFIER_LIBS) $(CHECK_LIBS)
endif

# Load generator (see docs/streams.md, Benchmarks); never part of pass/fail.
noinst_PROGRAMS += bench/notifier/loadgen
bench_notifier_loadgen_SOURCES = bench/notifier/loadgen.c
bench_notifier_loadgen_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS) $(SSL_CFLAGS)
bench_notifier_loadgen_LDADD = $(EV_LIBS) $(PQ_LIBS) $(SSL_LIBS) $(PTHREAD_LIBS) -lm
noinst_PROGRAMS += bench/notifier/wslay_ctx_size
bench_notifier_wslay_ctx_size_SOURCES = bench/notifier/wslay_ctx_size.c
bench_notifier_wslay_ctx_size_LDADD = $(WSLAY_LIBS)

EXTRA_DIST += bench/notifier/run.py bench/notifier/rps.sh
