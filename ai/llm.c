/* SPDX-License-Identifier: MIT */
/* llm: OpenAI-compatible chat completions: request/response codecs and the HTTP call. */
#include "autoconfig.h"
#include "llm.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "text.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model that answers more than this is broken or hostile: stop reading. */
#define LLM_MAX_RESPONSE (1024 * 1024)

const char *llm_role_of(const char *sender)
{
	if (!sender)
		return NULL;
	if (strcmp(sender, "user") == 0)
		return "user";
	if (strcmp(sender, "ai") == 0 || strcmp(sender, "manager") == 0)
		return "assistant";
	return NULL;
}

size_t llm_context_turns(const char *const *senders, const char *const *texts, size_t n,
                         size_t max, struct llm_turn *out)
{
	/* Walk backwards to keep the newest turns, then fill out in time order. */
	size_t keep = 0, first = n;
	while (first > 0 && keep < max) {
		first--;
		if (llm_role_of(senders[first]) && texts[first])
			keep++;
	}
	size_t k = 0;
	for (size_t i = first; i < n && k < keep; i++) {
		const char *role = llm_role_of(senders[i]);
		if (!role || !texts[i])
			continue;
		out[k].role = role;
		out[k].text = texts[i];
		k++;
	}
	return k;
}

static char *system_prompt(const struct llm_request *r)
{
	const char *name = r->assistant_name && *r->assistant_name ? r->assistant_name : "the assistant";
	struct buf s = { 0 };
	buf_printf(&s, "You are %s, a customer-support assistant on a website chat. Answer the "
	           "visitor briefly and politely, in the visitor's language, using the knowledge "
	           "below. If the knowledge does not cover the question, say so and offer to pass "
	           "the visitor to a human operator. Never invent prices, dates or policies.",
	           name);
	if (r->nfacts > 0)
		buf_adds(&s, "\n\nKnowledge:");
	for (size_t i = 0; i < r->nfacts; i++) {
		buf_adds(&s, "\nQ: ");
		buf_adds(&s, r->facts[i].question ? r->facts[i].question : "");
		buf_adds(&s, "\nA: ");
		buf_adds(&s, r->facts[i].answer ? r->facts[i].answer : "");
	}
	return s.p;
}

char *llm_build_request(const struct llm_request *r)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "model", r->model ? r->model : "");
	cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
	char *sys = system_prompt(r);
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "system");
	cJSON_AddStringToObject(m, "content", sys);
	cJSON_AddItemToArray(msgs, m);
	free(sys);
	for (size_t i = 0; i < r->nturns; i++) {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", r->turns[i].role);
		cJSON_AddStringToObject(m, "content", r->turns[i].text);
		cJSON_AddItemToArray(msgs, m);
	}
	cJSON_AddNumberToObject(root, "temperature", 0.2);
	char *out = json_print(root);
	cJSON_Delete(root);
	return out;
}

int llm_parse_response(const char *body, size_t len, char **text, const char **why)
{
	enum json_parse_err perr;
	cJSON *root = NULL;
	char *copy = NULL;
	int rc = -1;

	*text = NULL;
	root = json_parse_body(body, len, &perr);
	if (!root) {
		*why = perr == JSON_HAS_NUL ? "response holds a NUL character" : "response is not a JSON object";
		goto fail;
	}
	cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
	cJSON *message = cJSON_IsObject(first) ? cJSON_GetObjectItemCaseSensitive(first, "message") : NULL;
	const char *content = NULL;
	if (!cJSON_IsObject(message) || json_get_str(message, "content", &content) != 0) {
		*why = "response has no choices[0].message.content string";
		goto fail;
	}
	if (!utf8_valid(content, strlen(content))) {
		*why = "response content is not valid UTF-8";
		goto fail;
	}
	/* Leading white space goes before the cut, which counts characters: an answer padded
	 * with thousands of blanks would otherwise be cut down to blanks and refused. */
	content += strspn(content, " \t\n\r\v\f");
	copy = xstrdup(content);
	utf8_truncate(copy, CHATAI_TEXT_MAX_CHARS);
	const char *bad = NULL;
	if (text_validate(copy, strlen(copy), text, &bad) < 0) {
		*why = "response content is empty";
		goto fail;
	}
	rc = 0;
fail:
	free(copy);
	cJSON_Delete(root);
	return rc;
}

struct body_buf {
	struct buf b;
	int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->b.len + n > LLM_MAX_RESPONSE) {
		b->too_big = 1;
		return 0; /* aborts the transfer */
	}
	buf_add(&b->b, ptr, n);
	return n;
}

void llm_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void llm_global_cleanup(void)
{
	curl_global_cleanup();
}

int llm_complete(const struct llm_config *cfg, const char *body, char **text, char *err, size_t errlen)
{
	CURL *curl = NULL;
	struct curl_slist *headers = NULL;
	struct body_buf resp = { 0 };
	char *url = NULL, *auth = NULL;
	int rc = -1;

	*text = NULL;
	if (!cfg->base_url || !*cfg->base_url) {
		snprintf(err, errlen, "ai_base_url is not set");
		goto fail;
	}
	size_t bl = strlen(cfg->base_url);
	url = xasprintf("%.*s/chat/completions", (int)(cfg->base_url[bl - 1] == '/' ? bl - 1 : bl), cfg->base_url);
	curl = curl_easy_init();
	if (!curl) {
		snprintf(err, errlen, "curl_easy_init failed");
		goto fail;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	if (cfg->api_key && *cfg->api_key) {
		auth = xasprintf("Authorization: Bearer %s", cfg->api_key);
		headers = curl_slist_append(headers, auth);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "chatai-ai/" PACKAGE_VERSION);

	CURLcode cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		if (resp.too_big)
			snprintf(err, errlen, "response larger than %d bytes", LLM_MAX_RESPONSE);
		else
			snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto fail;
	}
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(err, errlen, "HTTP status %ld", status);
		goto fail;
	}
	const char *why = NULL;
	if (llm_parse_response(resp.b.p ? resp.b.p : "", resp.b.len, text, &why) < 0) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	rc = 0;
fail:
	if (curl)
		curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	if (auth) {
		/* The key does not linger in freed memory. */
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(url);
	buf_free(&resp.b);
	return rc;
}
