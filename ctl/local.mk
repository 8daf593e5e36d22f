# SPDX-License-Identifier: MIT
# ctl/: chatai-ctl, the sysadmin's tool (migrations, operators, assistants, knowledge).
bin_PROGRAMS += ctl/chatai-ctl
ctl_chatai_ctl_SOURCES = ctl/chatai-ctl.c ctl/ctl.h ctl/admin.c ctl/kbfile.c ctl/kbfile.h ctl/check_url.c ctl/check_url.h \
	ctl/mail.c ctl/mail.h
ctl_chatai_ctl_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/ai
ctl_chatai_ctl_LDADD = ai/libchataiai.a $(CHATAI_COMMON_LIBS) $(CURL_LIBS) -lm
