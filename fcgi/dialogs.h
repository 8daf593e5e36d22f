/* SPDX-License-Identifier: MIT */
/* dialogs: the operator's dialogs: list, read, status actions, typing, read marks. */
#ifndef CHATAI_FCGI_DIALOGS_H
#define CHATAI_FCGI_DIALOGS_H

#include <stdint.h>

struct req;

int h_dialogs_list(struct req *r);
int h_dialog_get(struct req *r);
int h_dialog_takeover(struct req *r);
int h_dialog_release(struct req *r);
int h_dialog_close(struct req *r);
int h_dialog_typing(struct req *r);
int h_dialog_read(struct req *r);

/* Shared with widget.c: a status action of dialog r->ids[0] by operator op (0: the
 * visitor), and a typing call by who ("manager" or "user"). Return ROUTE_DONE. */
int dialog_action(struct req *r, int64_t op, const char *action);
int dialog_typing(struct req *r, const char *who);

#endif
