/* SPDX-License-Identifier: MIT */
/* inbox: the operator-wide feed for polling-only clients (GET /api/inbox). */
#ifndef CHATAI_FCGI_INBOX_H
#define CHATAI_FCGI_INBOX_H

struct req;

int h_inbox(struct req *r);

#endif
