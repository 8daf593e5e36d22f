/* SPDX-License-Identifier: MIT */
/* answer: one job from claim to stored answer. */
#include "autoconfig.h"
#include "answer.h"
#include "config.h"
#include "credis.h"
#include "handoff.h"
#include "json.h"
#include "kb.h"
#include "log.h"

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

static int setting_int(const char *key, int64_t def, int64_t min, int64_t max, int *out)
{
	int64_t v = config_get_int(key, def);
	if (v < min || v > max) {
		log_error("setting %s = %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", key, v, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int answer_settings_load(struct ai_settings *s)
{
	memset(s, 0, sizeof *s);
	const char *provider = config_get("ai_provider", "kb");
	if (strcmp(provider, "kb") == 0) {
		s->use_llm = 0;
	} else if (strcmp(provider, "openai") == 0) {
		s->use_llm = 1;
	} else {
		log_error("setting ai_provider = %s: expected kb or openai", provider);
		return -1;
	}
	int timeout_s = 20;
	if (setting_int("ai_timeout", 20, 1, 600, &timeout_s) < 0)
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
	if (setting_int("ai_lease", timeout_s + 40, 1, 86400, &s->lease_s) < 0 ||
	    setting_int("ai_max_attempts", 3, 1, 100, &s->max_attempts) < 0 ||
	    setting_int("ai_history", 20, 0, 200, &s->history) < 0 ||
	    setting_int("ai_context_entries", 3, 0, 20, &s->context_entries) < 0 ||
	    setting_int("ai_debug_delay_ms", 0, 0, 600000, &s->debug_delay_ms) < 0)
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

/* typing_start through Redis when redis_url is set, Redis is up and a notifier listens
 * there (typing then never touches the database); else NOTIFY. typing_stop stays in the
 * transaction that stores the answer, so the answer never shows after it. */
static int send_typing_start(struct db *db, int64_t dialog, int64_t assistant)
{
	if (credis_publish_typing(credis_thread(), dialog, assistant, "ai", "start") == CREDIS_OK)
		return 0;
	char d[24];
	snprintf(d, sizeof d, "%" PRId64, dialog);
	const char *p[] = { d };
	PGresult *res = db_exec(db, "SELECT chatai_typing($1, 'ai', 'start')", 1, p);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	/* A signal (SIGTERM) must not shorten the job in hand. */
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The LLM's answer, or NULL (reason logged) when the call fails. *db_failed on a
 * database failure while building the context. */
static char *llm_answer(struct db *db, const struct ai_settings *s, const struct job *j,
                        const struct job_info *ji, int *db_failed)
{
	char *answer = NULL, *body = NULL;
	struct kb_entry *kb = NULL;
	size_t nkb = 0;
	PGresult *res = NULL;
	const char **senders = NULL, **texts = NULL;
	struct llm_turn *turns = NULL;
	struct llm_fact *facts = NULL;

	*db_failed = 0;
	/* Context: the best entries for the questions as a whole. */
	size_t qlen = 0;
	for (size_t i = 0; i < ji->nquestions; i++)
		qlen += strlen(ji->questions[i]) + 1;
	char *all = xcalloc(qlen + 1, 1);
	for (size_t i = 0; i < ji->nquestions; i++) {
		strcat(all, ji->questions[i]);
		strcat(all, "\n");
	}
	int rc = s->context_entries > 0 ? kb_search(db, ji->assistant_id, all, s->context_entries, &kb, &nkb) : 0;
	free(all);
	if (rc < 0) {
		*db_failed = 1;
		goto done;
	}

	char d[24], to[24], lim[16];
	snprintf(d, sizeof d, "%" PRId64, j->dialog_id);
	snprintf(to, sizeof to, "%" PRId64, j->up_to_seq);
	snprintf(lim, sizeof lim, "%d", s->history);
	const char *p[] = { d, to, lim };
	res = db_exec(db, "SELECT sender, text FROM (SELECT seq, sender, text FROM messages "
	                  "WHERE dialog_id = $1 AND seq <= $2 AND audience <> 'note' "
	                  "ORDER BY seq DESC LIMIT $3) m ORDER BY seq",
	              3, p);
	if (!res) {
		*db_failed = 1;
		goto done;
	}
	size_t n = (size_t)PQntuples(res);
	senders = xcalloc(n + 1, sizeof *senders);
	texts = xcalloc(n + 1, sizeof *texts);
	turns = xcalloc(n + 1, sizeof *turns);
	for (size_t i = 0; i < n; i++) {
		senders[i] = PQgetvalue(res, (int)i, 0);
		texts[i] = PQgetvalue(res, (int)i, 1);
	}
	size_t nturns = llm_context_turns(senders, texts, n, (size_t)s->history, turns);
	facts = xcalloc(nkb + 1, sizeof *facts);
	for (size_t i = 0; i < nkb; i++) {
		facts[i].question = kb[i].question;
		facts[i].answer = kb[i].answer;
	}
	struct llm_request req = {
		.model = s->model, .assistant_name = ji->assistant_name,
		.facts = facts, .nfacts = nkb, .turns = turns, .nturns = nturns,
	};
	body = llm_build_request(&req);
	char err[256];
	int64_t t0 = now_ms();
	if (llm_complete(&s->llm, body, &answer, err, sizeof err) < 0) {
		log_warn("job %" PRId64 ": LLM call failed after %" PRId64 " ms (%s): using the knowledge base",
		         j->id, now_ms() - t0, err);
		answer = NULL;
	} else {
		log_debug("job %" PRId64 ": LLM answered in %" PRId64 " ms", j->id, now_ms() - t0);
	}
done:
	free(body);
	free(facts);
	free(turns);
	free(senders);
	free(texts);
	if (res)
		PQclear(res);
	kb_entries_free(kb, nkb);
	return answer;
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
	size_t count = 0, i = 0;
	for (; raw[i]; i++)
		if (((unsigned char)raw[i] & 0xC0) != 0x80 && ++count > CHATAI_TEXT_MAX_CHARS)
			break;
	raw[i] = '\0';
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

int answer_preview(struct db *db, int64_t assistant, const char *question, char **text, int64_t *knowledge_id)
{
	char a[24];
	snprintf(a, sizeof a, "%" PRId64, assistant);
	const char *p[] = { a };
	*text = NULL;
	*knowledge_id = 0;
	PGresult *res = db_exec(db, "SELECT fallback_message, array_to_json(handoff_words) FROM assistants"
	                            " WHERE id = $1::bigint", 1, p);
	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return -2;
	}
	char **words = NULL;
	size_t nwords = json_strings(PQgetvalue(res, 0, 1), &words);
	char *fallback = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	int rc = 0;
	if (handoff_match(question, (const char *const *)words, nwords, NULL))
		*text = xstrdup(HANDOFF_TEXT);
	else if (answer_kb(db, assistant, &question, 1, text, knowledge_id) < 0)
		rc = -1;
	else if (!*text)
		*text = xstrdup(fallback);
	free(fallback);
	strv_free(words, nwords);
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

	const char *how = "knowledge base";
	if (s->use_llm) {
		int db_failed = 0;
		answer = llm_answer(db, s, j, &ji, &db_failed);
		if (db_failed) {
			rc = job_failed(db, s, j, "building the LLM context");
			goto out;
		}
		if (answer)
			how = "LLM";
	}
	if (answer) {
		answer = message_text(answer);
	} else {
		int64_t kid;
		if (answer_kb(db, ji.assistant_id, (const char *const *)ji.questions, ji.nquestions, &answer, &kid) < 0) {
			rc = job_failed(db, s, j, "searching the knowledge base");
			goto out;
		}
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
