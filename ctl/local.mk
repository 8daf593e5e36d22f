# SPDX-License-Identifier: MIT
# ctl/: chatai-ctl, the sysadmin's tool (migrations, operators, assistants, knowledge, mail).
bin_PROGRAMS += ctl/chatai-ctl
# main.c holds the command table; one file per command or group (ctl.h), cli.c the helpers.
ctl_chatai_ctl_SOURCES = ctl/main.c ctl/ctl.h ctl/cli.c \
	ctl/migrate.c ctl/migrate.h ctl/admin.c ctl/kbfile.c ctl/kbfile.h ctl/mail.c ctl/mail.h \
	ctl/check_host.c ctl/check_host.h ctl/check_settings.c ctl/check_url.c ctl/check_url.h
ctl_chatai_ctl_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/ai
ctl_chatai_ctl_LDADD = ai/libchataiai.a $(CHATAI_COMMON_LIBS) $(CURL_LIBS) -lm

# Unit test of the knowledge-file reader (Check).
if HAVE_CHECK
check_PROGRAMS += tests/unit/test_kbfile
tests_unit_test_kbfile_SOURCES = tests/unit/test_kbfile.c ctl/kbfile.c ctl/kbfile.h
tests_unit_test_kbfile_CFLAGS = $(CHATAI_CHECK_CFLAGS) -I$(top_srcdir)/ctl
tests_unit_test_kbfile_LDADD = $(CHATAI_CHECK_LIBS)
endif
