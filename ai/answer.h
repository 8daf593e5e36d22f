/* SPDX-License-Identifier: MIT */
/*
 * answer: what the worker does with one claimed job: check the dialog, spot a request
 * for a human, send typing_start, compute the answer (knowledge base, or the LLM with
 * the knowledge base as its fallback), and end the job through queue_finish(), which
 * stores the answer, sends typing_stop and ends the job in one transaction.
 */
#ifndef CHATAI_AI_ANSWER_H
#define CHATAI_AI_ANSWER_H

#include "db.h"
#include "llm.h"
#include "queue.h"

struct ai_settings {
	char *worker_id;     /* locked_by of claimed jobs: ai_worker_id or host:pid */
	int use_llm;         /* ai_provider = openai */
	struct llm_config llm; /* points at the owned copies below */
	char *base_url;      /* ai_base_url, owned */
	char *api_key;       /* ai_api_key, owned (wiped when freed) */
	char *model;         /* ai_model, owned */
	int lease_s;         /* ai_lease: how long a claim holds before others may retry */
	int max_attempts;    /* ai_max_attempts: then the fallback answer, job failed */
	int history;         /* ai_history: dialog messages sent to the LLM */
	int context_entries; /* ai_context_entries: knowledge entries sent to the LLM */
	int debug_delay_ms;  /* ai_debug_delay_ms: test-only pause after typing_start */
	int retry_delay_s;   /* wait before retrying a job that hit a database failure */
};

/* Read the ai_* settings (config_load() done). Logs and returns -1 on a bad value;
 * answer_settings_free() is safe either way. The settings own their strings, so they
 * outlive a later config_load(). */
int answer_settings_load(struct ai_settings *s) CHATAI_WUR;
void answer_settings_free(struct ai_settings *s);

/*
 * Process claimed job j to its end. 0 when the job ended (answered, silent, handed off,
 * or given up), -1 when a database failure left it for a later attempt.
 */
int answer_job(struct db *db, const struct ai_settings *s, const struct job *j);

/*
 * The knowledge-base answer to questions as the assistant sends it: kb_answer() cut to
 * the message limit and trimmed. 0 with *text (owned; NULL when nothing matched: the
 * assistant then sends its fallback) and *knowledge_id (the entry that matched the first
 * question answered, 0 when none), or -1 on a database failure.
 */
int answer_kb(struct db *db, int64_t assistant, const char *const *questions, size_t n, char **text,
              int64_t *knowledge_id) CHATAI_WUR;

/*
 * What the assistant would say to question as the first visitor message of a new dialog
 * (its greeting before it), by the worker's own path with settings s: the handoff words
 * (then the handoff notice); with ai_provider = openai the LLM, called as for a job (the
 * best knowledge entries as context, ai_timeout), whose answer is cut and trimmed as a
 * job's; when it fails or is not used, the knowledge base (answer_kb); else the fallback
 * message. s NULL: ai_provider = kb. 0 with *text (owned) and *knowledge_id (the entry of
 * a knowledge-base answer; 0 for the LLM's, the handoff notice or the fallback),
 * DB_ROW_FAILED on a database failure, DB_ROW_NONE when there is no such assistant.
 */
int answer_preview(struct db *db, const struct ai_settings *s, int64_t assistant, const char *question,
                   char **text, int64_t *knowledge_id) CHATAI_WUR;

#endif
