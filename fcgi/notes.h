/* SPDX-License-Identifier: MIT */
/*
 * notes: an operator's private note in a dialog and a dialog's assignment (docs/api.md).
 * A note is a message of "type": "note" stored in the dialog's seq order (sql/006_admin.sql,
 * audience 'note'): admin channels and admin history only, never a widget's.
 */
#ifndef CHATAI_FCGI_NOTES_H
#define CHATAI_FCGI_NOTES_H

struct req;

int h_dialog_note(struct req *r);
int h_dialog_assign(struct req *r);

#endif
