/* SPDX-License-Identifier: MIT */
/*
 * llm: the OpenAI-compatible chat-completions provider.
 *
 * The request and response codecs are pure (JSON in, JSON out) so that they are unit
 * tested and fuzzable; llm_complete() does the HTTP over libcurl. The API key goes only
 * into the Authorization header: it is never logged and never part of an error text.
 */
#ifndef CHATAI_AI_LLM_H
#define CHATAI_AI_LLM_H

#include <stddef.h>
#include "util.h"

/* One turn of the conversation sent to the model. */
struct llm_turn {
	const char *role; /* "user" | "assistant" */
	const char *text;
};

/* A knowledge entry given to the model as context. */
struct llm_fact {
	const char *question;
	const char *answer;
};

struct llm_request {
	const char *model;             /* ai_model */
	const char *assistant_name;    /* for the system prompt */
	const struct llm_fact *facts;  /* best knowledge entries, best first */
	size_t nfacts;
	const struct llm_turn *turns;  /* the dialog, oldest first */
	size_t nturns;
};

struct llm_config {
	const char *base_url; /* ai_base_url, e.g. https://api.openai.com/v1 */
	const char *api_key;  /* ai_api_key, may be NULL */
	long timeout_ms;      /* whole request, ai_timeout */
};

/* The chat role of a stored message's sender: "user" for user, "assistant" for ai and
 * manager, NULL for system notices (left out of the model's context). */
const char *llm_role_of(const char *sender);

/*
 * Turn the dialog's messages (senders[i], texts[i], oldest first) into at most max turns
 * written to out (room for max entries): system notices are left out and the most recent
 * turns are kept. Returns the number of turns. The strings are borrowed, not copied.
 */
size_t llm_context_turns(const char *const *senders, const char *const *texts, size_t n,
                         size_t max, struct llm_turn *out);

/* The JSON body of POST {base}/chat/completions (caller frees). */
char *llm_build_request(const struct llm_request *r);

/*
 * Read choices[0].message.content out of a chat-completions response. On success *text
 * is a fresh, trimmed, valid UTF-8 string of 1..CHATAI_TEXT_MAX_CHARS characters (a
 * longer answer is cut at a character boundary) and 0 is returned; otherwise -1 and
 * *why says what was wrong (static string).
 */
int llm_parse_response(const char *body, size_t len, char **text, const char **why) CHATAI_WUR;

/*
 * POST body to {base_url}/chat/completions and parse the answer. 0 and *text, or -1 and
 * err (a reason for the log: HTTP status, timeout, bad JSON; never the key).
 */
int llm_complete(const struct llm_config *cfg, const char *body, char **text,
                 char *err, size_t errlen) CHATAI_WUR;

/* Process-wide libcurl set-up and tear-down (call once, single-threaded). */
void llm_global_init(void);
void llm_global_cleanup(void);

#endif
