# SPDX-License-Identifier: MIT
# notifier/: the streams daemon (WebSocket + SSE) and its unit tests. Its fuzz drivers are
# built by tests/fuzz/run-short.sh (`make fuzz`), its load generator by bench/local.mk.
# The file map is in docs/streams.md.
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

# Everything but main.c is a library, compiled once: the daemon and the unit tests link it.
noinst_LIBRARIES += notifier/libnotifier.a
notifier_libnotifier_a_SOURCES = $(NOTIFIER_CORE)
notifier_libnotifier_a_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS)

sbin_PROGRAMS += notifier/chatai-notifier
notifier_chatai_notifier_SOURCES = notifier/main.c
notifier_chatai_notifier_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS)
notifier_chatai_notifier_LDADD = notifier/libnotifier.a $(NOTIFIER_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/unit/test_notifier
tests_unit_test_notifier_CFLAGS = $(CHATAI_CHECK_CFLAGS) -I$(top_srcdir)/notifier
tests_unit_test_notifier_LDADD = notifier/libnotifier.a $(NOTIFIER_LIBS) $(CHECK_LIBS)
endif
