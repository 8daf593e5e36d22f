/* SPDX-License-Identifier: MIT */
/*
 * adminval: the fields of the admin routes (operators, profile, assistants, knowledge,
 * notes, assignment), checked before any database work, and the answer to a refused
 * admin write (the SQLSTATEs of sql/006_admin.sql).
 *
 * The av_* checkers are pure: each reads one key of a parsed body, leaves its result in
 * *out and returns 0 (a missing optional key leaves *present 0 or *out NULL), or -1 with
 * the refusal in e (400 validation_failed naming the key). Strings marked `owned` are
 * fresh copies the caller frees; the others point into the cJSON tree.
 */
#ifndef CHATAI_FCGI_ADMINVAL_H
#define CHATAI_FCGI_ADMINVAL_H

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdint.h>
#include "validate.h"

struct req;

/* Shortest and longest password (characters; bytes for the upper bound: crypt(3)). */
#define AV_PASSWORD_MIN       10
#define AV_PASSWORD_MAX_BYTES 511

/* A string of at most maxlen bytes of valid UTF-8. */
int av_string(const cJSON *o, const char *key, int required, size_t maxlen, const char **out,
	      struct verr *e) CHATAI_WUR;
/* A display name: trimmed, 1..200 characters, no control characters (owned). */
int av_name(const cJSON *o, const char *key, int required, char **out, struct verr *e) CHATAI_WUR;
/* An email (email_valid() of common/util.h). */
int av_email(const cJSON *o, const char *key, const char **out, struct verr *e) CHATAI_WUR;
/* A new password: AV_PASSWORD_MIN characters or more, valid UTF-8. */
int av_password(const cJSON *o, const char *key, int required, const char **out, struct verr *e) CHATAI_WUR;
/* "admin" or "operator". */
int av_role(const cJSON *o, const char *key, int required, const char **out, struct verr *e) CHATAI_WUR;
/* true or false; *val -1 when absent. */
int av_bool(const cJSON *o, const char *key, int *val, struct verr *e) CHATAI_WUR;
/* A positive integer id (required). */
int av_id(const cJSON *o, const char *key, int64_t *out, struct verr *e) CHATAI_WUR;
/* Message text (owned, trimmed, the message rule); *out NULL when absent and optional. */
int av_text(const cJSON *o, const char *key, int required, char **out, struct verr *e) CHATAI_WUR;

/*
 * PATCH /api/assistants/{id}: the body checked and turned into the JSON object that
 * chatai_assistant_update() takes (owned). name, greeting and allowed_origins follow
 * v_assistant() (the rule of POST); handoff_words: up to 50 non-empty strings of at
 * most 100 bytes; waiting_timeout: 1..604800 seconds or null; ts_config: a name of
 * lower-case letters, digits and '_' (the database says whether it exists). At least one.
 */
char *av_assistant_patch(const cJSON *o, struct verr *e);

/* Answer a failed admin write on r->db: CA400 -> 400 validation_failed naming field400,
 * CA409 -> 409 conflict with msg409, 23505 -> 409 conflict (a taken email), anything
 * else as http_db_error(). */
void admin_db_error(struct req *r, const char *what, const char *field400, const char *msg409);

/* http_row() of request.h (status with the first column of a one-row result, 404 "no
 * such resource" when there is none) for an admin statement: a NULL res goes to
 * admin_db_error(). Clears res. ROUTE_DONE. */
int admin_answer(struct req *r, PGresult *res, int status, const char *what, const char *field400,
		 const char *msg409);

#endif
