/* SPDX-License-Identifier: MIT */
/* widget: the public routes of the embeddable widget (CORS, rate limited) other than
 * its messages (messages.h) and stream tickets (streamtickets.h). */
#ifndef CHATAI_FCGI_WIDGET_H
#define CHATAI_FCGI_WIDGET_H

struct req;

int h_widget_assistant(struct req *r);
int h_widget_dialog_create(struct req *r);
int h_widget_typing(struct req *r);
int h_widget_handoff(struct req *r);
/* OPTIONS preflight of a widget path (the pipeline calls it; allow: the path's methods). */
int h_widget_preflight(struct req *r, const char *allow);

#endif
