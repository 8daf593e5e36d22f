# SPDX-License-Identifier: MIT
# fcgi/: rules of this part of the tree (included by Makefile.am).
# chatai.fcgi is built from a library of everything but main.c, which the unit tests link
# too (the fuzz drivers compile the same sources with clang: tests/fuzz/build-fcgi-fuzz.sh).
noinst_LIBRARIES += fcgi/libchataifcgi.a
# Layers (docs/internals.md, "fcgi/ layers"; scripts/fcgi-layers checks that no call
# goes up or round): the pipeline and the route table; the resources, one .c/.h each;
# who is calling, rate limits, long-poll hub and its helpers; the request itself.
fcgi_libchataifcgi_a_SOURCES = \
	fcgi/pipeline.c fcgi/pipeline.h \
	fcgi/routes.c fcgi/routes.h \
	fcgi/session.c \
	fcgi/assistants.c \
	fcgi/dialogs.c fcgi/dialogs.h \
	fcgi/messages.c \
	fcgi/widget.c fcgi/widget.h \
	fcgi/inbox.c \
	fcgi/streamtickets.c \
	fcgi/operators.c \
	fcgi/knowledge.c \
	fcgi/notes.c \
	fcgi/search.c \
	fcgi/contact.c \
	fcgi/caller.c fcgi/caller.h \
	fcgi/ratelimit.c fcgi/ratelimit.h \
	fcgi/longpoll.c fcgi/longpoll.h fcgi/lphub.h \
	fcgi/lpdispatch.c \
	fcgi/lpnote.c fcgi/lpnote.h \
	fcgi/lpaddr.c fcgi/lpaddr.h \
	fcgi/lpheap.c fcgi/lpheap.h \
	fcgi/authcache.c fcgi/authcache.h \
	fcgi/dbpool.c fcgi/dbpool.h \
	fcgi/postbatch.c fcgi/postbatch.h \
	fcgi/pollmode.c fcgi/pollmode.h \
	fcgi/inlineai.c fcgi/inlineai.h \
	fcgi/request.c fcgi/request.h \
	fcgi/appcfg.c fcgi/appcfg.h \
	fcgi/router.c fcgi/router.h \
	fcgi/validate.c fcgi/validate.h \
	fcgi/inboxcursor.c fcgi/inboxcursor.h \
	fcgi/adminval.c fcgi/adminval.h
fcgi_libchataifcgi_a_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) -I$(top_srcdir)/ai

# ai/libchataiai.a: the worker's job code, run by a request when no worker is alive.
CHATAI_FCGI_LIBS = fcgi/libchataifcgi.a ai/libchataiai.a $(CHATAI_COMMON_LIBS) $(FCGI_LIBS) $(PTHREAD_LIBS) \
	$(CURL_LIBS) -lm

bin_PROGRAMS += fcgi/chatai.fcgi
fcgi_chatai_fcgi_SOURCES = fcgi/main.c
fcgi_chatai_fcgi_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(PTHREAD_LIBS)
fcgi_chatai_fcgi_LDADD = $(CHATAI_FCGI_LIBS)

# Unit tests of the pure parts (routing, validation, query strings, CORS, inbox cursor,
# long-poll wake rule).
if HAVE_CHECK
check_PROGRAMS += tests/unit/test_fcgi tests/unit/test_adminval tests/unit/test_authcache
FCGI_CHECK_CFLAGS = $(CHATAI_CHECK_CFLAGS) -I$(top_srcdir)/fcgi $(PTHREAD_LIBS)
tests_unit_test_fcgi_CFLAGS = $(FCGI_CHECK_CFLAGS)
tests_unit_test_fcgi_LDADD = $(CHATAI_FCGI_LIBS) $(CHECK_LIBS)
tests_unit_test_adminval_CFLAGS = $(FCGI_CHECK_CFLAGS)
tests_unit_test_adminval_LDADD = $(CHATAI_FCGI_LIBS) $(CHECK_LIBS)
tests_unit_test_authcache_CFLAGS = $(FCGI_CHECK_CFLAGS)
tests_unit_test_authcache_LDADD = $(CHATAI_FCGI_LIBS) $(CHECK_LIBS)
endif

# No file of fcgi/ reaches back up the layers, directly or round a loop (nm over the library).
TESTS += tests/unit/fcgi-layers.sh

EXTRA_DIST += tests/unit/fcgi-layers.sh
