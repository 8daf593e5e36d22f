/* SPDX-License-Identifier: MIT */
/* auth: stream authentication decisions (see auth.h). */
#include "autoconfig.h"
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "origin.h"
#include "util.h"

const char auth_operator_sql[] =
	"SELECT s.id, CASE WHEN $2::bigint = 0 THEN 0 "
	"ELSE (SELECT d.last_seq FROM dialogs d WHERE d.id = $2::bigint) END, "
	"extract(epoch FROM s.expires_at - now())::float8 "
	"FROM sessions s WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()";

const char auth_operator_ticket_sql[] =
	"WITH t AS (DELETE FROM stream_tickets WHERE ticket_hash = $1 RETURNING session_id, expires_at) "
	"SELECT s.id, CASE WHEN $2::bigint = 0 THEN 0 "
	"ELSE (SELECT d.last_seq FROM dialogs d WHERE d.id = $2::bigint) END, "
	"extract(epoch FROM s.expires_at - now())::float8 "
	"FROM t JOIN sessions s ON s.id = t.session_id "
	"WHERE t.expires_at > now() AND s.revoked_at IS NULL AND s.expires_at > now()";

const char auth_visitor_ticket_sql[] =
	"WITH t AS (DELETE FROM stream_tickets WHERE ticket_hash = $2 RETURNING dialog_id, expires_at) "
	"SELECT CASE WHEN EXISTS (SELECT 1 FROM t WHERE t.dialog_id = d.id AND t.expires_at > now()) "
	"THEN $2::text ELSE '' END, d.assistant_id, d.last_seq, array_to_json(a.allowed_origins)::text "
	"FROM dialogs d JOIN assistants a ON a.id = d.assistant_id WHERE d.id = $1::bigint";

const char auth_session_sql[] =
	"SELECT extract(epoch FROM s.expires_at - now())::float8 FROM sessions s "
	"WHERE s.id = $1::bigint AND s.revoked_at IS NULL AND s.expires_at > now()";

/* $2: the token's hash; any of the dialog's visitor tokens opens it (dialog_visitor_tokens, sql/001_tables.sql). */
const char auth_visitor_sql[] =
	"SELECT COALESCE((SELECT t.token_hash FROM dialog_visitor_tokens t "
	"WHERE t.dialog_id = d.id AND t.token_hash = $2::text), ''), d.assistant_id, d.last_seq, "
	"array_to_json(a.allowed_origins)::text "
	"FROM dialogs d JOIN assistants a ON a.id = d.assistant_id WHERE d.id = $1::bigint";

static int64_t num(PGresult *res, int col)
{
	int64_t v = 0;
	if (PQgetisnull(res, 0, col) || parse_int64(PQgetvalue(res, 0, col), INT64_MIN, INT64_MAX, &v) != 0)
		return -1;
	return v;
}

double auth_seconds(PGresult *res, int row, int col)
{
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQgetisnull(res, row, col))
		return 0;
	char *end;
	double v = strtod(PQgetvalue(res, row, col), &end);
	return *end == '\0' && v > 0 ? v : 0;
}

double auth_session_left(PGresult *res)
{
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return 0;
	return auth_seconds(res, 0, 0);
}

void auth_operator_decide(PGresult *res, int want_dialog, struct auth_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		out->status = 503;
		out->why = "database unavailable";
		return;
	}
	if (PQntuples(res) != 1) {
		out->status = 401;
		out->why = "invalid or expired token";
		return;
	}
	out->session_id = num(res, 0);
	out->expires_in = auth_seconds(res, 0, 2);
	if (want_dialog) {
		if (PQgetisnull(res, 0, 1)) {
			out->status = 404;
			out->why = "no such dialog";
			return;
		}
		out->last_seq = num(res, 1);
	}
}

void auth_visitor_check(int found, const char *row_hash, int64_t row_assistant, int origin_ok,
                        int64_t row_last_seq, const char *given_hash, int64_t given_assistant,
                        struct auth_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!found) {
		out->status = 404;
		out->why = "no such dialog";
	} else if (!token_equal(row_hash, given_hash)) {
		out->status = 401;
		out->why = "invalid visitor token";
	} else if (row_assistant != given_assistant) {
		out->status = 403;
		out->why = "dialog does not belong to this assistant";
	} else if (!origin_ok) {
		out->status = 403;
		out->why = "origin not allowed";
	} else {
		out->last_seq = row_last_seq;
	}
}

void auth_visitor_decide(PGresult *res, const char *visitor_token_hash, int64_t assistant_id,
                         const char *origin, struct auth_result *out)
{
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		memset(out, 0, sizeof(*out));
		out->status = 503;
		out->why = "database unavailable";
		return;
	}
	if (PQntuples(res) != 1) {
		auth_visitor_check(0, "", 0, 0, 0, visitor_token_hash, assistant_id, out);
		return;
	}
	/* The one origin rule (common/origin.h), as REST applies it: no SQL comparison. */
	int origin_ok = PQnfields(res) > 3 && origin_allowed_json(origin, PQgetvalue(res, 0, 3));
	auth_visitor_check(1, PQgetvalue(res, 0, 0), num(res, 1), origin_ok, num(res, 2), visitor_token_hash,
	                   assistant_id, out);
}

int auth_ws_code(int status)
{
	switch (status) {
	case 401: return 4401;
	case 403: return 4403;
	case 404: return 4404;
	default: return 1013;
	}
}
