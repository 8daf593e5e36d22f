/* SPDX-License-Identifier: MIT */
/* streamtickets: single-use stream tickets for the notifier (no token in stream URLs). */
#ifndef CHATAI_FCGI_STREAMTICKETS_H
#define CHATAI_FCGI_STREAMTICKETS_H

struct req;

int h_stream_ticket(struct req *r);
int h_widget_stream_ticket(struct req *r);

#endif
