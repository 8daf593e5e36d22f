/* SPDX-License-Identifier: MIT */
/*
 * notes: an operator's private note in a dialog and a dialog's assignment (docs/api.md).
 * A note is a message of "type": "note" stored in the dialog's seq order (sql/006_admin.sql,
 * audience 'note'): admin channels and admin history only, never a widget's.
 */
#include "autoconfig.h"
#include "routes.h"
#include "adminval.h"
#include "request.h"
#include "validate.h"

#include <stdlib.h>

static int h_dialog_note(struct req *r)
{
	char *text = NULL, op[I64_TEXT];
	struct verr e = { 0 };
	if (av_text(req_body(r), "text", 1, &text, &e) < 0)
		return http_verr(r, &e);
	const char *p[3] = { req_id(r), i64_text(r->op.id, op), text };
	PGresult *res = db_exec(r->db, "SELECT chatai_dialog_note($1::bigint, $2::bigint, $3)::text", 3, p);
	free(text);
	return admin_answer(r, res, 201, "note", NULL, NULL);
}

static int h_dialog_assign(struct req *r)
{
	int64_t to;
	char op[I64_TEXT], tos[I64_TEXT];
	struct verr e = { 0 };
	if (av_id(req_body(r), "operator_id", &to, &e) < 0)
		return http_verr(r, &e);
	const char *p[3] = { req_id(r), i64_text(r->op.id, op), i64_text(to, tos) };
	PGresult *res =
		db_exec(r->db, "SELECT chatai_dialog_assign($1::bigint, $2::bigint, $3::bigint)::text", 3, p);
	return admin_answer(r, res, 200, "assign", "operator_id", "the dialog is closed");
}

const struct route notes_routes[] = {
	{ "POST", "/api/dialogs/{id}/notes", h_dialog_note, ROUTE_OPERATOR | ROUTE_BODY },
	{ "POST", "/api/dialogs/{id}/assign", h_dialog_assign, ROUTE_OPERATOR | ROUTE_BODY },
	{ 0 },
};
