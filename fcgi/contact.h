/* SPDX-License-Identifier: MIT */
/*
 * contact: the visitor's side of mail (issue 15): leave an email address on the dialog,
 * report the read position, ask for a transcript, and resume a dialog from the link of
 * a reply mail; and the operator's view of a dialog's mail. The mails themselves are
 * written by triggers (sql/008_triggers.sql, sql/007_mail.sql) and sent by ai/mailq.c.
 *
 * Routes (docs/api.md):
 *   POST /api/widget/dialogs/{id}/contact     h_widget_contact     W | B | RATE_MESSAGES
 *   POST /api/widget/dialogs/{id}/read        h_widget_read        W | B | RATE_TYPING
 *   POST /api/widget/dialogs/{id}/transcript  h_widget_transcript  W | RATE_MESSAGES
 *   POST /api/widget/resume                   h_widget_resume      W | B | RATE_DIALOGS
 *   GET  /api/dialogs/{id}/mail               h_dialog_mail        OP
 */
#ifndef CHATAI_FCGI_CONTACT_H
#define CHATAI_FCGI_CONTACT_H

#include <cjson/cJSON.h>
#include "validate.h"

struct req;

/* Most transcripts one dialog may ask for per hour. */
#define CONTACT_TRANSCRIPTS_PER_HOUR 3

struct v_contact {
	const char *email;
	const char *name;        /* NULL when absent or empty */
	int transcript_on_close; /* 0 when absent */
};
/* {email, name?, consent: true, transcript_on_close?}: 400 validation_failed naming the
 * field (a control character in any string field names that field). Pure. */
int v_contact(const cJSON *o, struct v_contact *out, struct verr *e) CHATAI_WUR;

struct v_resume {
	int64_t dialog_id;
	const char *token; /* any string up to 256 bytes: checked by its hash, never by shape */
};
int v_resume(const cJSON *o, struct v_resume *out, struct verr *e) CHATAI_WUR;

int h_widget_contact(struct req *r);
int h_widget_read(struct req *r);
int h_widget_transcript(struct req *r);
int h_widget_resume(struct req *r);
int h_dialog_mail(struct req *r);

#endif
