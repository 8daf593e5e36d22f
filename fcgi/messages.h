/* SPDX-License-Identifier: MIT */
/* messages: a dialog's messages: history, long-poll and posting, operator and widget side. */
#ifndef CHATAI_FCGI_MESSAGES_H
#define CHATAI_FCGI_MESSAGES_H

struct req;

int h_messages_get(struct req *r);
int h_messages_post(struct req *r);
int h_widget_messages_get(struct req *r);
int h_widget_messages_post(struct req *r);

#endif
