/* SPDX-License-Identifier: MIT */
/* adminval: fields of the admin routes, and the answers to refused admin writes. */
#include "autoconfig.h"
#include "adminval.h"
#include "request.h"
#include "router.h"
#include "validate.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int invalid(struct verr *e, const char *field, const char *message)
{
	e->status = 400;
	e->code = "validation_failed";
	e->message = message;
	e->field = field;
	return -1;
}

/* A string field: 0 with *out NULL when absent (null counts as absent) and optional. */
static int str_of(const cJSON *o, const char *key, int required, const char **out, struct verr *e)
{
	*out = NULL;
	int rc = json_get_str(o, key, out);
	if (rc == JSON_FIELD_MISSING)
		return required ? invalid(e, key, "this field is required") : 0;
	if (rc == JSON_FIELD_WRONG_TYPE)
		return invalid(e, key, "this field must be a string");
	if (!utf8_valid(*out, strlen(*out)))
		return invalid(e, key, "this field must be valid UTF-8");
	return 0;
}

int av_string(const cJSON *o, const char *key, int required, size_t maxlen, const char **out, struct verr *e)
{
	if (str_of(o, key, required, out, e) < 0)
		return -1;
	if (*out && strlen(*out) > maxlen)
		return invalid(e, key, "this field is too long");
	return 0;
}

int av_text(const cJSON *o, const char *key, int required, char **out, struct verr *e)
{
	const char *s, *why = NULL;
	*out = NULL;
	if (str_of(o, key, required, &s, e) < 0)
		return -1;
	if (s && text_validate(s, strlen(s), out, &why) < 0)
		return invalid(e, key, why);
	return 0;
}

int av_name(const cJSON *o, const char *key, int required, char **out, struct verr *e)
{
	const char *s, *why = NULL;
	*out = NULL;
	if (str_of(o, key, required, &s, e) < 0)
		return -1;
	if (s && name_validate(s, out, &why) < 0)
		return invalid(e, key, why);
	return 0;
}

int av_email(const cJSON *o, const char *key, const char **out, struct verr *e)
{
	if (str_of(o, key, 1, out, e) < 0)
		return -1;
	if (!email_valid(*out))
		return invalid(e, key, "this is not an email address");
	return 0;
}

int av_password(const cJSON *o, const char *key, int required, const char **out, struct verr *e)
{
	if (str_of(o, key, required, out, e) < 0)
		return -1;
	if (!*out)
		return 0;
	if (utf8_count(*out, strlen(*out)) < AV_PASSWORD_MIN)
		return invalid(e, key, "a password has at least 10 characters");
	if (strlen(*out) > AV_PASSWORD_MAX_BYTES)
		return invalid(e, key, "a password has at most 511 bytes");
	return 0;
}

int av_role(const cJSON *o, const char *key, int required, const char **out, struct verr *e)
{
	if (str_of(o, key, required, out, e) < 0)
		return -1;
	if (*out && strcmp(*out, "admin") != 0 && strcmp(*out, "operator") != 0)
		return invalid(e, key, "role must be \"admin\" or \"operator\"");
	return 0;
}

int av_bool(const cJSON *o, const char *key, int *val, struct verr *e)
{
	*val = -1;
	int rc = json_get_bool(o, key, val);
	if (rc == JSON_FIELD_MISSING) {
		*val = -1;
		return 0;
	}
	if (rc == JSON_FIELD_WRONG_TYPE)
		return invalid(e, key, "this field must be true or false");
	return 0;
}

int av_id(const cJSON *o, const char *key, int64_t *out, struct verr *e)
{
	int rc = json_get_int64(o, key, out);
	if (rc == JSON_FIELD_MISSING)
		return invalid(e, key, "this field is required");
	if (rc == JSON_FIELD_WRONG_TYPE || *out < 1)
		return invalid(e, key, "this field must be a positive integer");
	return 0;
}

/* handoff_words: an array of up to 50 non-empty strings of at most 100 bytes. */
static cJSON *handoff_words(const cJSON *v, struct verr *e)
{
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 50) {
		invalid(e, "handoff_words", "handoff_words must be an array of at most 50 words");
		return NULL;
	}
	cJSON *arr = cJSON_CreateArray();
	const cJSON *it;
	cJSON_ArrayForEach(it, v)
	{
		char *t = NULL;
		const char *why = NULL;
		if (!cJSON_IsString(it) || strlen(it->valuestring) > 100 ||
		    text_validate(it->valuestring, strlen(it->valuestring), &t, &why) < 0) {
			cJSON_Delete(arr);
			invalid(e, "handoff_words",
				"each handoff word is a non-empty string of at most 100 bytes");
			return NULL;
		}
		cJSON_AddItemToArray(arr, cJSON_CreateString(t));
		free(t);
	}
	return arr;
}

/* waiting_timeout and ts_config into p. */
static int patch_more(const cJSON *o, cJSON *p, struct verr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "waiting_timeout");
	if (v && cJSON_IsNull(v)) {
		cJSON_AddNullToObject(p, "waiting_timeout");
	} else if (v) {
		int64_t t = 0;
		if (json_get_int64(o, "waiting_timeout", &t) < 0 || t < 1 || t > 604800)
			return invalid(e, "waiting_timeout",
				       "waiting_timeout is 1 to 604800 seconds, or null");
		cJSON_AddNumberToObject(p, "waiting_timeout", (double)t);
	}
	const char *cfg = NULL;
	if (str_of(o, "ts_config", 0, &cfg, e) < 0)
		return -1;
	if (cfg) {
		size_t n = strlen(cfg);
		if (n == 0 || n > 63 || strspn(cfg, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
			return invalid(e, "ts_config",
				       "ts_config names a text search configuration (e.g. english)");
		cJSON_AddStringToObject(p, "ts_config", cfg);
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "handoff_words");
	if (v) {
		cJSON *w = handoff_words(v, e);
		if (!w)
			return -1;
		cJSON_AddItemToObject(p, "handoff_words", w);
	}
	return 0;
}

/* name, greeting, allowed_origins: v_assistant()'s rule, when one of them is given. */
static int patch_base(const cJSON *o, cJSON *p, struct verr *e)
{
	static const char *const keys[] = { "name", "greeting", "allowed_origins" };
	int any = 0;
	for (size_t i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		any |= v && !cJSON_IsNull(v);
	}
	if (!any)
		return 0;
	struct v_assistant in;
	if (v_assistant(o, 0, &in, e) < 0)
		return -1;
	if (in.name)
		cJSON_AddStringToObject(p, "name", in.name);
	if (in.greeting)
		cJSON_AddStringToObject(p, "greeting", in.greeting);
	if (in.origins)
		cJSON_AddItemToObject(p, "allowed_origins", cJSON_Parse(in.origins));
	v_assistant_free(&in);
	return 0;
}

char *av_assistant_patch(const cJSON *o, struct verr *e)
{
	cJSON *p = cJSON_CreateObject();
	char *out = NULL;
	if (patch_base(o, p, e) < 0 || patch_more(o, p, e) < 0)
		goto out;
	if (!p->child) {
		invalid(e, NULL,
			"nothing to change: give name, greeting, allowed_origins, handoff_words,"
			" waiting_timeout or ts_config");
		goto out;
	}
	out = json_print(p);
out:
	cJSON_Delete(p);
	return out;
}

void admin_db_error(struct req *r, const char *what, const char *field400, const char *msg409)
{
	if (r->db->status == DB_QUERY && db_failed_with(r->db, "CA400"))
		http_error(r, 400, "validation_failed", "this value is not acceptable", field400);
	else if (r->db->status == DB_QUERY && db_failed_with(r->db, "CA409") && msg409)
		http_error(r, 409, "conflict", msg409, NULL);
	else if (r->db->status == DB_QUERY && db_failed_with(r->db, "23505"))
		http_error(r, 409, "conflict", "an operator with this email already exists", "email");
	else
		http_db_error(r, what);
}

int admin_answer(struct req *r, PGresult *res, int status, const char *what, const char *field400,
		 const char *msg409)
{
	if (!res) {
		admin_db_error(r, what, field400, msg409);
		return ROUTE_DONE;
	}
	return http_row(r, res, status, what, "no such resource");
}
