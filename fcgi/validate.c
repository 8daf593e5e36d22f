/* SPDX-License-Identifier: MIT */
/* validate: request bodies and query strings, checked before any database work. */
#include "autoconfig.h"
#include "validate.h"
#include "request.h"
#include "json.h"
#include "origin.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(struct verr *e, int status, const char *code, const char *message, const char *field)
{
	e->status = status;
	e->code = code;
	e->message = message;
	e->field = field;
	return -1;
}

static int invalid(struct verr *e, const char *field, const char *message)
{
	return fail(e, 400, "validation_failed", message, field);
}

int v_nul_field(const char *s, size_t len, char *out, size_t outlen)
{
	int depth = 0, in_str = 0, expect_key = 0, str_is_key = 0;
	const char *key = NULL, *str_start = NULL;
	size_t klen = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\') {
				if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
					goto found;
				i++;
			} else if (c == '"') {
				in_str = 0;
				if (str_is_key) {
					key = str_start;
					klen = (size_t)(s + i - str_start);
				}
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = 1;
			str_start = s + i + 1;
			str_is_key = depth == 1 && expect_key;
			if (str_is_key)
				expect_key = 0;
			break;
		case '{':
			if (++depth == 1)
				expect_key = 1;
			break;
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		case ',':
			if (depth == 1)
				expect_key = 1;
			break;
		default:
			break;
		}
	}
	return -1;
found:
	if (outlen == 0)
		return 0;
	if (!key || klen >= outlen || !utf8_valid(key, klen) || memchr(key, '\\', klen))
		klen = 0;
	if (klen)
		memcpy(out, key, klen);
	out[klen] = '\0';
	return 0;
}

cJSON *v_body(const char *body, size_t len, struct verr *e)
{
	enum json_parse_err err;
	cJSON *o = json_parse_body(body, len, &err);
	if (o)
		return o;
	switch (err) {
	case JSON_HAS_NUL:
		if (!memchr(body, '\0', len) && v_nul_field(body, len, e->fieldbuf, sizeof e->fieldbuf) == 0) {
			fail(e, 400, "validation_failed", "strings must not contain NUL characters",
			     e->fieldbuf[0] ? e->fieldbuf : NULL);
			return NULL;
		}
		fail(e, 400, "invalid_json", "the body is not valid JSON (raw NUL byte)", NULL);
		return NULL;
	case JSON_NOT_OBJECT:
		fail(e, 400, "invalid_json", "the body must be a JSON object", NULL);
		return NULL;
	default:
		fail(e, 400, "invalid_json", "the body is not valid JSON", NULL);
		return NULL;
	}
}

/*
 * A string field: -1 when missing (and required), -2 wrong type, then UTF-8 and length
 * checks. *out points into the tree.
 */
static int str_field(const cJSON *o, const char *key, int required, size_t maxlen, const char **out,
                     struct verr *e)
{
	*out = NULL;
	int rc = json_get_str(o, key, out);
	if (rc == JSON_FIELD_MISSING) {
		if (required)
			return invalid(e, key, "this field is required");
		return 0;
	}
	if (rc == JSON_FIELD_WRONG_TYPE)
		return invalid(e, key, "this field must be a string");
	size_t n = strlen(*out);
	if (!utf8_valid(*out, n))
		return invalid(e, key, "this field must be valid UTF-8");
	if (n > maxlen)
		return invalid(e, key, "this field is too long");
	return 0;
}

/* A required string field under one of common/text.h's rules (owned copy in *out). */
static int text_rule_field(const cJSON *o, const char *key, int (*rule)(const char *, char **, const char **),
                           char **out, struct verr *e)
{
	const char *s = NULL;
	*out = NULL;
	int rc = json_get_str(o, key, &s);
	if (rc == JSON_FIELD_MISSING)
		return invalid(e, key, "this field is required");
	if (rc == JSON_FIELD_WRONG_TYPE)
		return invalid(e, key, "this field must be a string");
	const char *why = NULL;
	if (rule(s, out, &why) < 0)
		return invalid(e, key, why);
	return 0;
}

int v_login(const cJSON *o, struct v_login *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	if (str_field(o, "email", 1, TEXT_LOGIN_EMAIL_MAX, &out->email, e) < 0)
		return -1;
	if (str_field(o, "password", 1, TEXT_PASSWORD_MAX, &out->password, e) < 0)
		return -1;
	if (!*out->email)
		return invalid(e, "email", "this field must not be empty");
	if (!*out->password)
		return invalid(e, "password", "this field must not be empty");
	return 0;
}

int v_post(const cJSON *o, const char *sender, struct v_post *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	const char *s = NULL;
	if (str_field(o, "sender", 0, 32, &s, e) < 0)
		return -1;
	if (s && strcmp(s, sender) != 0)
		return invalid(e, "sender", strcmp(sender, "user") == 0 ? "sender must be \"user\""
		                                                        : "sender must be \"manager\"");
	if (str_field(o, "client_id", 0, V_CLIENT_ID_MAX, &out->client_id, e) < 0)
		return -1;
	if (out->client_id && !*out->client_id)
		return invalid(e, "client_id", "client_id must not be empty");
	if (text_rule_field(o, "text", text_message, &out->text, e) < 0)
		return -1;
	return 0;
}

int v_typing(const cJSON *o, int *start, struct verr *e)
{
	const char *s = NULL;
	if (str_field(o, "state", 1, 16, &s, e) < 0)
		return -1;
	if (strcmp(s, "start") == 0)
		*start = 1;
	else if (strcmp(s, "stop") == 0)
		*start = 0;
	else
		return invalid(e, "state", "state must be \"start\" or \"stop\"");
	return 0;
}

static int int_field(const cJSON *o, const char *key, int required, int64_t min, int64_t max,
                     int64_t *out, int *present, struct verr *e)
{
	if (present)
		*present = 0;
	int rc = json_get_int64(o, key, out);
	if (rc == JSON_FIELD_MISSING)
		return required ? invalid(e, key, "this field is required") : 0;
	if (rc == JSON_FIELD_WRONG_TYPE)
		return invalid(e, key, "this field must be an integer");
	if (*out < min || *out > max)
		return invalid(e, key, "this field is out of range");
	if (present)
		*present = 1;
	return 0;
}

int v_read(const cJSON *o, int64_t *seq, struct verr *e)
{
	return int_field(o, "seq", 1, 0, INT64_MAX, seq, NULL, e);
}

int v_new_dialog(const cJSON *o, struct v_new_dialog *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	if (int_field(o, "assistant_id", 1, 1, INT64_MAX, &out->assistant_id, NULL, e) < 0)
		return -1;
	if (str_field(o, "page_url", 0, V_URL_MAX, &out->page_url, e) < 0)
		return -1;
	return 0;
}

int v_assistant(const cJSON *o, int create, struct v_assistant *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	int any = 0;
	/* Name and greeting: the rules of common/text.h, as chatai-ctl applies them. */
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (v || create) {
		if (create || !cJSON_IsNull(v)) {
			if (text_rule_field(o, "name", name_validate, &out->name, e) < 0)
				goto fail;
			any = 1;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "greeting");
	if (v && !cJSON_IsNull(v)) {
		if (text_rule_field(o, "greeting", text_greeting, &out->greeting, e) < 0)
			goto fail;
		any = 1;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "allowed_origins");
	if (v && !cJSON_IsNull(v)) {
		if (!cJSON_IsArray(v)) {
			invalid(e, "allowed_origins", "allowed_origins must be an array of origins");
			goto fail;
		}
		if (cJSON_GetArraySize(v) > V_ORIGINS_MAX) {
			invalid(e, "allowed_origins", "at most 100 origins");
			goto fail;
		}
		cJSON *arr = cJSON_CreateArray();
		const cJSON *it;
		cJSON_ArrayForEach(it, v) {
			/* Stored in normal form (common/origin.h), as chatai-ctl stores them. */
			char norm[ORIGIN_NORMAL_MAX];
			if (!cJSON_IsString(it) || !it->valuestring ||
			    origin_normalize(it->valuestring, 1, norm, sizeof norm) < 0) {
				cJSON_Delete(arr);
				invalid(e, "allowed_origins",
				        "each origin must look like https://shop.example or https://*.example.com[:port]");
				goto fail;
			}
			cJSON_AddItemToArray(arr, cJSON_CreateString(norm));
		}
		out->origins = json_print(arr);
		cJSON_Delete(arr);
		any = 1;
	}
	if (!any) {
		invalid(e, NULL, "nothing to change: give name, greeting or allowed_origins");
		goto fail;
	}
	return 0;
fail:
	v_assistant_free(out);
	return -1;
}

void v_assistant_free(struct v_assistant *a)
{
	free(a->name);
	free(a->greeting);
	free(a->origins);
	a->name = a->greeting = a->origins = NULL;
}

int v_knowledge(const cJSON *o, struct v_knowledge *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	if (text_rule_field(o, "question", text_message, &out->question, e) < 0 ||
	    text_rule_field(o, "answer", text_message, &out->answer, e) < 0) {
		v_knowledge_free(out);
		return -1;
	}
	return 0;
}

void v_knowledge_free(struct v_knowledge *k)
{
	free(k->question);
	free(k->answer);
	k->question = k->answer = NULL;
}

/* An integer query parameter: 0 absent, 1 present, -1 refused (e filled). */
static int query_int(const char *qs, const char *name, int64_t min, int64_t max, int64_t *out, struct verr *e)
{
	char *v = NULL;
	int rc = query_get(qs, name, &v);
	if (rc == 0)
		return 0;
	if (rc < 0 || parse_int64(v, min, max, out) < 0 || v[0] == '-') {
		free(v);
		if (min == 0 && max == INT64_MAX)
			return invalid(e, name, "must be a non-negative integer");
		return invalid(e, name, "must be an integer in range");
	}
	free(v);
	return 1;
}

int v_messages_query(const char *qs, int64_t max_wait, struct v_messages_query *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	out->limit = V_MESSAGES_LIMIT_DEFAULT;
	int rc = query_int(qs, "after", 0, INT64_MAX, &out->after, e);
	if (rc < 0)
		return -1;
	out->has_after = rc;
	if (query_int(qs, "limit", 1, V_MESSAGES_LIMIT_MAX, &out->limit, e) < 0)
		return -1;
	/* wait: any non-negative integer, capped at the configured maximum. */
	if (query_int(qs, "wait", 0, INT64_MAX, &out->wait, e) < 0)
		return -1;
	if (out->wait > max_wait)
		out->wait = max_wait;
	return 0;
}

static const char *const dialog_statuses[] = { "ai", "waiting", "operator", "closed" };

int v_dialogs_query(const char *qs, struct v_dialogs_query *out, struct verr *e)
{
	memset(out, 0, sizeof *out);
	out->limit = 50;
	char *st = NULL;
	int rc = query_get(qs, "status", &st);
	if (rc < 0)
		return invalid(e, "status", "status must be ai, waiting, operator or closed (comma separated)");
	if (rc == 1 && *st) {
		/* Every comma-separated name must be a known status. */
		char *save = NULL, *copy = xstrdup(st);
		int ok = 1;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int known = 0;
			for (size_t i = 0; i < sizeof dialog_statuses / sizeof *dialog_statuses; i++)
				if (strcmp(t, dialog_statuses[i]) == 0)
					known = 1;
			if (!known)
				ok = 0;
		}
		free(copy);
		if (!ok || st[0] == ',' || st[strlen(st) - 1] == ',' || strstr(st, ",,")) {
			free(st);
			return invalid(e, "status", "status must be ai, waiting, operator or closed (comma separated)");
		}
		out->statuses = st;
	} else {
		free(st);
	}
	if (query_int(qs, "assistant_id", 1, INT64_MAX, &out->assistant_id, e) < 0 ||
	    query_int(qs, "limit", 1, V_LIST_LIMIT_MAX, &out->limit, e) < 0 ||
	    query_int(qs, "before", 1, INT64_MAX, &out->before, e) < 0) {
		free(out->statuses);
		out->statuses = NULL;
		return -1;
	}
	return 0;
}
