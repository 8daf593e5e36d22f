# ctl/: chatai-ctl, the sysadmin's tool (migrations, operators, assistants, knowledge).
bin_PROGRAMS += ctl/chatai-ctl
ctl_chatai_ctl_SOURCES = ctl/chatai-ctl.c ctl/kbfile.c ctl/kbfile.h
ctl_chatai_ctl_CFLAGS = $(AM_CFLAGS) $(CHATAI_COMMON_CFLAGS)
ctl_chatai_ctl_LDADD = $(CHATAI_COMMON_LIBS)
