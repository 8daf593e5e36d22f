/* SPDX-License-Identifier: MIT */
/* widget: the public routes of the embeddable widget (CORS, rate limited) other than
 * its messages (messages.c), stream tickets (streamtickets.c) and mail (contact.c);
 * routes: widget_routes. */
#ifndef CHATAI_FCGI_WIDGET_H
#define CHATAI_FCGI_WIDGET_H

struct req;

/* OPTIONS preflight of a widget path (the pipeline calls it; allow: the path's methods). */
int h_widget_preflight(struct req *r, const char *allow);

#endif
