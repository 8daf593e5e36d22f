/* SPDX-License-Identifier: MIT */
/* notes: private notes and assignment of a dialog. */
#include "autoconfig.h"
#include "notes.h"
#include "adminval.h"
#include "request.h"
#include "router.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>

int h_dialog_note(struct req *r)
{
	char *text = NULL, id[24], op[24];
	struct verr e = { 0 };
	if (av_text(req_body(r), "text", 1, &text, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	snprintf(op, sizeof op, "%lld", (long long)r->op.id);
	const char *p[3] = { admin_id(r, id), op, text };
	PGresult *res = db_exec(r->db, "SELECT chatai_dialog_note($1::bigint, $2::bigint, $3)::text", 3, p);
	free(text);
	return admin_answer(r, res, 201, "note", NULL, NULL);
}

int h_dialog_assign(struct req *r)
{
	int64_t to;
	char id[24], op[24], tos[24];
	struct verr e = { 0 };
	if (av_id(req_body(r), "operator_id", &to, &e) < 0) {
		http_verr(r, &e);
		return ROUTE_DONE;
	}
	snprintf(op, sizeof op, "%lld", (long long)r->op.id);
	snprintf(tos, sizeof tos, "%lld", (long long)to);
	const char *p[3] = { admin_id(r, id), op, tos };
	PGresult *res =
		db_exec(r->db, "SELECT chatai_dialog_assign($1::bigint, $2::bigint, $3::bigint)::text", 3, p);
	return admin_answer(r, res, 200, "assign", "operator_id", "the dialog is closed");
}
