/* SPDX-License-Identifier: MIT */
/*
 * dialogs: the operator's dialogs: list, read, status actions, typing, read marks
 * (routes: dialogs_routes). Two of them serve the widget too (widget.c).
 */
#ifndef CHATAI_FCGI_DIALOGS_H
#define CHATAI_FCGI_DIALOGS_H

#include <stdint.h>

struct req;

/* A status action of dialog r->ids[0] by operator op (0: the visitor), and a typing call
 * by who ("manager" or "user"). Return ROUTE_DONE. */
int dialog_action(struct req *r, int64_t op, const char *action);
int dialog_typing(struct req *r, const char *who);

#endif
