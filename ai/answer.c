/* SPDX-License-Identifier: MIT */
/* answer: one job from claim to stored answer. */
#include "autoconfig.h"
#include "answer.h"
#include "config.h"
#include "handoff.h"
#include "json.h"
#include "kb.h"
#include "log.h"
#include "settings.h"
#include "text.h"
#include "typing.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The dialog and assistant data a job needs, read before answering (the status is
 * checked again under lock when the answer is stored). */
struct job_info {
	char *status;
	int64_t assistant_id;
	char *assistant_name;
	char *fallback;
	char **handoff_words;
	size_t nhandoff;
	char **questions; /* visitor messages from_seq..up_to_seq, in order */
	size_t nquestions;
};

/* Free a vector of n strings and the vector. */
static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void job_info_free(struct job_info *ji)
{
	free(ji->status);
	free(ji->assistant_name);
	free(ji->fallback);
	strv_free(ji->handoff_words, ji->nhandoff);
	strv_free(ji->questions, ji->nquestions);
	memset(ji, 0, sizeof *ji);
}

/* An ai_* key from the table (common/settings.def: all SP_REFUSE, so an out-of-range value
 * is logged and stops the load); derived: the default when the table works none out. */
static int setting_int(enum setting_id id, int64_t derived, int *out)
{
	if (settings_int(id, &derived) < 0)
		return -1;
	*out = (int)derived;
	return 0;
}

int answer_settings_load(struct ai_settings *s)
{
	memset(s, 0, sizeof *s);
	const char *provider = settings_str(SET_ai_provider);
	if (strcmp(provider, "kb") == 0) {
		s->use_llm = 0;
	} else if (strcmp(provider, "openai") == 0) {
		s->use_llm = 1;
	} else {
		log_error("setting ai_provider = %s: expected kb or openai", provider);
		return -1;
	}
	int timeout_s = 0;
	if (setting_int(SET_ai_timeout, 0, &timeout_s) < 0)
		return -1;
	s->llm.timeout_ms = timeout_s * 1000L;
	const char *v;
	if ((v = config_get("ai_base_url", NULL)) != NULL)
		s->base_url = xstrdup(v);
	if ((v = config_get("ai_api_key", NULL)) != NULL)
		s->api_key = xstrdup(v);
	if ((v = config_get("ai_model", NULL)) != NULL)
		s->model = xstrdup(v);
	s->llm.base_url = s->base_url;
	s->llm.api_key = s->api_key;
	if (s->use_llm && (!s->base_url || !s->model)) {
		log_error("ai_provider = openai needs ai_base_url and ai_model");
		return -1;
	}
	/* The lease must outlast the slowest answer, or a healthy job would be retried. */
	if (setting_int(SET_ai_lease, timeout_s + 40, &s->lease_s) < 0 ||
	    setting_int(SET_ai_max_attempts, 0, &s->max_attempts) < 0 ||
	    setting_int(SET_ai_history, 0, &s->history) < 0 ||
	    setting_int(SET_ai_context_entries, 0, &s->context_entries) < 0 ||
	    setting_int(SET_ai_debug_delay_ms, 0, &s->debug_delay_ms) < 0)
		return -1;
	if (s->use_llm && s->lease_s <= timeout_s)
		log_warn("ai_lease (%d s) is not longer than ai_timeout (%d s): slow answers may be retried",
		         s->lease_s, timeout_s);
	s->retry_delay_s = 5;
	const char *id = config_get("ai_worker_id", NULL);
	if (id) {
		s->worker_id = xstrdup(id);
	} else {
		char host[256];
		if (gethostname(host, sizeof host) < 0)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		s->worker_id = xasprintf("%s:%ld", host, (long)getpid());
	}
	return 0;
}

void answer_settings_free(struct ai_settings *s)
{
	if (s->api_key)
		explicit_bzero(s->api_key, strlen(s->api_key));
	free(s->api_key);
	free(s->base_url);
	free(s->model);
	free(s->worker_id);
	memset(s, 0, sizeof *s);
}

/* Parse a JSON array of strings (from array_to_json) into a string vector. */
static size_t json_strings(const char *text, char ***out)
{
	*out = NULL;
	cJSON *arr = cJSON_Parse(text);
	size_t n = 0;
	if (cJSON_IsArray(arr)) {
		size_t cap = (size_t)cJSON_GetArraySize(arr);
		char **v = xcalloc(cap ? cap : 1, sizeof *v);
		const cJSON *it;
		cJSON_ArrayForEach(it, arr) {
			if (cJSON_IsString(it))
				v[n++] = xstrdup(it->valuestring);
		}
		*out = v;
	}
	cJSON_Delete(arr);
	return n;
}

static int job_info_load(struct db *db, const struct job *j, struct job_info *ji)
{
	char d[24], from[24], to[24];
	snprintf(d, sizeof d, "%" PRId64, j->dialog_id);
	snprintf(from, sizeof from, "%" PRId64, j->from_seq);
	snprintf(to, sizeof to, "%" PRId64, j->up_to_seq);
	const char *p[] = { d, from, to };
	/* One round trip: it sits between the visitor's message and typing_start. */
	PGresult *res = db_exec(db,
		"SELECT d.status, d.assistant_id, a.name, a.fallback_message, array_to_json(a.handoff_words),"
		"       (SELECT COALESCE(json_agg(m.text ORDER BY m.seq), '[]') FROM messages m"
		"         WHERE m.dialog_id = d.id AND m.seq BETWEEN $2 AND $3 AND m.sender = 'user')"
		"  FROM dialogs d JOIN assistants a ON a.id = d.assistant_id WHERE d.id = $1", 3, p);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		/* The dialog was deleted: its jobs went with it (ON DELETE CASCADE). */
		PQclear(res);
		ji->status = xstrdup("gone");
		return 0;
	}
	ji->status = xstrdup(PQgetvalue(res, 0, 0));
	ji->assistant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	ji->assistant_name = xstrdup(PQgetvalue(res, 0, 2));
	ji->fallback = xstrdup(PQgetvalue(res, 0, 3));
	ji->nhandoff = json_strings(PQgetvalue(res, 0, 4), &ji->handoff_words);
	ji->nquestions = json_strings(PQgetvalue(res, 0, 5), &ji->questions);
	PQclear(res);
	return 0;
}

/* typing_start by the one typing path (common/typing.h; the job holds the dialog, so no
 * check). typing_stop stays in the transaction that stores the answer, so the answer
 * never shows after it. */
static int send_typing_start(struct db *db, int64_t dialog, int64_t assistant)
{
	return typing_send(db, dialog, assistant, "ai", "start");
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	/* A signal (SIGTERM) must not shorten the job in hand. */
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What an answer is computed from: the assistant, the visitor's questions (for the
 * knowledge base) and, for the LLM, the conversation up to them. */
struct answer_ctx {
	int64_t assistant;
	const char *assistant_name;
	const char *const *questions;
	size_t nquestions;
	const struct llm_turn *turns;
	size_t nturns;
	const char *label; /* for the log: "job N" or "preview" */
};

/* The LLM's answer to c (the knowledge entries best for the questions as a whole in its
 * system prompt), or NULL (reason logged) when the call fails. -1 on a database failure
 * while building the context. */
static int llm_ask(struct db *db, const struct ai_settings *s, const struct answer_ctx *c, char **answer)
{
	struct kb_entry *kb = NULL;
	size_t nkb = 0, qlen = 0;
	*answer = NULL;
	for (size_t i = 0; i < c->nquestions; i++)
		qlen += strlen(c->questions[i]) + 1;
	char *all = xcalloc(qlen + 1, 1);
	for (size_t i = 0; i < c->nquestions; i++) {
		strcat(all, c->questions[i]);
		strcat(all, "\n");
	}
	int rc = s->context_entries > 0 ? kb_search(db, c->assistant, all, s->context_entries, &kb, &nkb) : 0;
	free(all);
	if (rc < 0)
		return -1;
	struct llm_fact *facts = xcalloc(nkb + 1, sizeof *facts);
	for (size_t i = 0; i < nkb; i++) {
		facts[i].question = kb[i].question;
		facts[i].answer = kb[i].answer;
	}
	struct llm_request req = {
		.model = s->model, .assistant_name = c->assistant_name,
		.facts = facts, .nfacts = nkb, .turns = c->turns, .nturns = c->nturns,
	};
	char *body = llm_build_request(&req), err[256];
	int64_t t0 = now_ms();
	if (llm_complete(&s->llm, body, answer, err, sizeof err) < 0) {
		log_warn("%s: LLM call failed after %" PRId64 " ms (%s): using the knowledge base",
		         c->label, now_ms() - t0, err);
		*answer = NULL;
	} else {
		log_debug("%s: LLM answered in %" PRId64 " ms", c->label, now_ms() - t0);
	}
	free(body);
	free(facts);
	kb_entries_free(kb, nkb);
	return 0;
}

/* A job's conversation for the LLM: the dialog's last ai_history messages up to the job
 * (notes left out), as turns borrowing from res. */
struct history {
	PGresult *res;
	const char **senders, **texts;
	struct llm_turn *turns;
	size_t nturns;
};

static void history_free(struct history *h)
{
	free(h->senders);
	free(h->texts);
	free(h->turns);
	if (h->res)
		PQclear(h->res);
	memset(h, 0, sizeof *h);
}

static int history_load(struct db *db, const struct ai_settings *s, const struct job *j, struct history *h)
{
	char d[24], to[24], lim[16];
	snprintf(d, sizeof d, "%" PRId64, j->dialog_id);
	snprintf(to, sizeof to, "%" PRId64, j->up_to_seq);
	snprintf(lim, sizeof lim, "%d", s->history);
	const char *p[] = { d, to, lim };
	h->res = db_exec(db, "SELECT sender, text FROM (SELECT seq, sender, text FROM messages "
	                     "WHERE dialog_id = $1 AND seq <= $2 AND audience <> 'note' "
	                     "ORDER BY seq DESC LIMIT $3) m ORDER BY seq",
	                 3, p);
	if (!h->res)
		return -1;
	size_t n = (size_t)PQntuples(h->res);
	h->senders = xcalloc(n + 1, sizeof *h->senders);
	h->texts = xcalloc(n + 1, sizeof *h->texts);
	h->turns = xcalloc(n + 1, sizeof *h->turns);
	for (size_t i = 0; i < n; i++) {
		h->senders[i] = PQgetvalue(h->res, (int)i, 0);
		h->texts[i] = PQgetvalue(h->res, (int)i, 1);
	}
	h->nturns = llm_context_turns(h->senders, h->texts, n, (size_t)s->history, h->turns);
	return 0;
}

static int end_job(struct db *db, const struct ai_settings *s, const struct job *j,
                   const struct job_end *end, const char *how)
{
	char outcome[16];
	if (queue_finish(db, j, s->worker_id, end, outcome) < 0) {
		log_warn("job %" PRId64 " (dialog %" PRId64 "): storing the result failed: %s",
		         j->id, j->dialog_id, db->errmsg);
		return -1;
	}
	log_info("job %" PRId64 " (dialog %" PRId64 ", seq %" PRId64 "..%" PRId64 ", attempt %d): %s%s%s",
	         j->id, j->dialog_id, j->from_seq, j->up_to_seq, j->attempts, outcome,
	         how ? " by " : "", how ? how : "");
	return 0;
}

/* A database failure mid-job: leave the job for a later attempt (if the database is
 * reachable at all; otherwise the lease runs out by itself). */
static int job_failed(struct db *db, const struct ai_settings *s, const struct job *j, const char *what)
{
	char err[320];
	snprintf(err, sizeof err, "%s: %s", what, db->errmsg);
	log_warn("job %" PRId64 " (dialog %" PRId64 "): %s; will retry", j->id, j->dialog_id, err);
	if (queue_retry(db, j, s->worker_id, err, s->retry_delay_s) < 0)
		log_debug("job %" PRId64 ": could not record the retry: %s", j->id, db->errmsg);
	return -1;
}

/* Make raw (taken) a storable message text: cut to the message limit at a character
 * boundary (several long entries joined may pass it), trimmed, valid. NULL when nothing
 * is left. */
static char *message_text(char *raw)
{
	utf8_truncate(raw, CHATAI_TEXT_MAX_CHARS);
	char *text = NULL;
	const char *why = NULL;
	if (text_validate(raw, strlen(raw), &text, &why) < 0)
		text = NULL;
	free(raw);
	return text;
}

int answer_kb(struct db *db, int64_t assistant, const char *const *questions, size_t n, char **text,
              int64_t *knowledge_id)
{
	int db_failed = 0;
	*text = kb_answer_from(db, assistant, questions, n, &db_failed, knowledge_id);
	if (db_failed)
		return -1;
	if (*text)
		*text = message_text(*text);
	if (!*text)
		*knowledge_id = 0;
	return 0;
}

/* What the assistant sends for c: the LLM's answer when ai_provider = openai and the
 * call succeeds, else the knowledge base's (answer_kb); *text NULL when neither answered
 * (the fallback message then). *knowledge_id: the entry of a knowledge-base answer, else
 * 0. *how names the source for the log. -1 on a database failure. */
static int answer_compose(struct db *db, const struct ai_settings *s, const struct answer_ctx *c, char **text,
                          int64_t *knowledge_id, const char **how)
{
	*text = NULL;
	*knowledge_id = 0;
	*how = "knowledge base";
	if (s && s->use_llm) {
		if (llm_ask(db, s, c, text) < 0)
			return -1;
		if (*text) {
			*how = "LLM";
			*text = message_text(*text);
			return 0;
		}
	}
	return answer_kb(db, c->assistant, c->questions, c->nquestions, text, knowledge_id);
}

int answer_preview(struct db *db, const struct ai_settings *s, int64_t assistant, const char *question,
                   char **text, int64_t *knowledge_id)
{
	char a[24];
	snprintf(a, sizeof a, "%" PRId64, assistant);
	const char *p[] = { a };
	*text = NULL;
	*knowledge_id = 0;
	/* The greeting as chatai_rest_create_dialog() stores it: when not blank. */
	PGresult *res = db_exec(db, "SELECT name, CASE WHEN btrim(greeting) <> '' THEN greeting END,"
	                            " fallback_message, array_to_json(handoff_words)"
	                            " FROM assistants WHERE id = $1::bigint", 1, p);
	int rc = db_one_row(&res);
	if (rc != DB_ROW_ONE)
		return rc;
	char **words = NULL;
	size_t nwords = json_strings(PQgetvalue(res, 0, 3), &words);
	if (handoff_match(question, (const char *const *)words, nwords, NULL)) {
		*text = xstrdup(HANDOFF_TEXT);
	} else {
		/* The dialog a visitor would open: the greeting, then the question. */
		const char *senders[2], *texts[2];
		size_t n = 0;
		if (!PQgetisnull(res, 0, 1)) {
			senders[n] = "ai";
			texts[n++] = PQgetvalue(res, 0, 1);
		}
		senders[n] = "user";
		texts[n++] = question;
		struct llm_turn turns[2];
		struct answer_ctx c = {
			.assistant = assistant, .assistant_name = PQgetvalue(res, 0, 0),
			.questions = &question, .nquestions = 1, .turns = turns, .label = "answer preview",
		};
		c.nturns = llm_context_turns(senders, texts, n, s ? (size_t)s->history : 0, turns);
		const char *how;
		if (answer_compose(db, s, &c, text, knowledge_id, &how) < 0)
			rc = -1;
		else if (!*text)
			*text = xstrdup(PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	strv_free(words, nwords);
	return rc;
}

/* The answer to job j (ji loaded), or NULL for the fallback; how names its source.
 * -1 on a database failure. */
static int job_answer(struct db *db, const struct ai_settings *s, const struct job *j, const struct job_info *ji,
                      char **answer, const char **how)
{
	struct history h = { 0 };
	char label[40];
	*answer = NULL;
	if (s->use_llm && history_load(db, s, j, &h) < 0)
		return -1;
	snprintf(label, sizeof label, "job %" PRId64, j->id);
	struct answer_ctx c = {
		.assistant = ji->assistant_id, .assistant_name = ji->assistant_name,
		.questions = (const char *const *)ji->questions, .nquestions = ji->nquestions,
		.turns = h.turns, .nturns = h.nturns, .label = label,
	};
	int64_t kid;
	int rc = answer_compose(db, s, &c, answer, &kid, how);
	history_free(&h);
	return rc;
}

int answer_job(struct db *db, const struct ai_settings *s, const struct job *j)
{
	struct job_info ji = { 0 };
	char *answer = NULL;
	int rc = -1;

	if (job_info_load(db, j, &ji) < 0) {
		rc = job_failed(db, s, j, "reading the dialog");
		goto out;
	}
	if (strcmp(ji.status, "gone") == 0) {
		rc = 0;
		goto out;
	}
	struct job_end end = { .handoff_text = HANDOFF_TEXT_FAILURES, .state = "done" };
	if (strcmp(ji.status, "ai") != 0 || ji.nquestions == 0) {
		/* An operator holds the dialog, or it waits for one, or it is closed (or the
		 * questions are gone). */
		rc = end_job(db, s, j, &end, NULL) < 0 ? job_failed(db, s, j, "ending a silent job") : 0;
		goto out;
	}
	if (j->attempts > s->max_attempts) {
		/* Earlier attempts died mid-job (crash, kill): stop trying, answer politely. */
		end.text = ji.fallback;
		end.failed = 1;
		end.state = "failed";
		end.typing = 1; /* a dead attempt may have left typing_start showing */
		rc = end_job(db, s, j, &end, "giving up") < 0 ? job_failed(db, s, j, "giving up") : 0;
		goto out;
	}
	for (size_t i = 0; i < ji.nquestions; i++) {
		if (handoff_match(ji.questions[i], (const char *const *)ji.handoff_words, ji.nhandoff, NULL)) {
			end.handoff = 1;
			end.handoff_text = HANDOFF_TEXT;
			rc = end_job(db, s, j, &end, "handoff words") < 0 ? job_failed(db, s, j, "handing off") : 0;
			goto out;
		}
	}

	if (send_typing_start(db, j->dialog_id, ji.assistant_id) < 0) {
		rc = job_failed(db, s, j, "typing_start");
		goto out;
	}
	end.typing = 1;
	if (s->debug_delay_ms > 0)
		sleep_ms(s->debug_delay_ms);

	const char *how;
	if (job_answer(db, s, j, &ji, &answer, &how) < 0) {
		rc = job_failed(db, s, j, "computing the answer");
		goto out;
	}
	if (answer) {
		end.text = answer;
	} else {
		end.text = ji.fallback;
		end.failed = 1;
		how = "fallback";
	}
	rc = end_job(db, s, j, &end, how) < 0 ? job_failed(db, s, j, "storing the answer") : 0;
out:
	free(answer);
	job_info_free(&ji);
	return rc;
}
