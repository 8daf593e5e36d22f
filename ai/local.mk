# SPDX-License-Identifier: MIT
# ai/: the assistant worker chatai-ai (included by Makefile.am).
# Everything but main.c is a library: chatai.fcgi links it too, to answer a job itself
# when no worker is alive (a host with no daemon, see fcgi/inlineai.h).
noinst_LIBRARIES += ai/libchataiai.a
ai_libchataiai_a_SOURCES = \
	ai/answer.c ai/answer.h \
	ai/queue.c ai/queue.h \
	ai/kb.c ai/kb.h \
	ai/llm.c ai/llm.h \
	ai/handoff.c ai/handoff.h \
	ai/mailsend.c ai/mailsend.h \
	ai/mailq.c ai/mailq.h
ai_libchataiai_a_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CURL_CFLAGS)
CHATAI_AI_LIBS = ai/libchataiai.a $(CURL_LIBS) -lm

bin_PROGRAMS += ai/chatai-ai
# The mail sender runs in a thread of its own (ai/mailthread.h): pthreads.
ai_chatai_ai_SOURCES = ai/main.c ai/mailthread.c ai/mailthread.h
ai_chatai_ai_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CURL_CFLAGS) $(PTHREAD_LIBS)
ai_chatai_ai_LDADD = ai/libchataiai.a $(CHATAI_COMMON_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS) -lm

# Unit tests of the pure parts: handoff word matching, LLM request/response, context.
if HAVE_CHECK
check_PROGRAMS += tests/unit/test_ai_handoff tests/unit/test_ai_llm tests/unit/test_mail
AI_CHECK_CFLAGS = $(CHATAI_CHECK_CFLAGS) -I$(top_srcdir)/ai $(CURL_CFLAGS)
tests_unit_test_mail_CFLAGS = $(AI_CHECK_CFLAGS)
tests_unit_test_mail_LDADD = ai/libchataiai.a $(CHATAI_CHECK_LIBS) $(CURL_LIBS) -lm
tests_unit_test_ai_handoff_SOURCES = tests/unit/test_ai_handoff.c ai/handoff.c ai/handoff.h
tests_unit_test_ai_handoff_CFLAGS = $(AI_CHECK_CFLAGS)
tests_unit_test_ai_handoff_LDADD = $(CHATAI_CHECK_LIBS)
tests_unit_test_ai_llm_SOURCES = tests/unit/test_ai_llm.c ai/llm.c ai/llm.h
tests_unit_test_ai_llm_CFLAGS = $(AI_CHECK_CFLAGS)
tests_unit_test_ai_llm_LDADD = $(CHATAI_CHECK_LIBS) $(CURL_LIBS)
endif
