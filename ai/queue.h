/* SPDX-License-Identifier: MIT */
/*
 * queue: the answer-job queue in PostgreSQL (answer_jobs of sql/001_tables.sql, the
 * chatai_ai_* functions of sql/005_ai.sql). Every call is one statement in autocommit,
 * hence one transaction: a claim takes the job with a lease, a finish stores the answer
 * and ends the job atomically.
 *
 * The worker's connection also LISTENs on chatai_jobs: queue_listen() after every
 * (re)connect, queue_drain() to consume the notifications (their payload, a dialog id,
 * is only a wake-up: the claim query decides what is ready).
 */
#ifndef CHATAI_AI_QUEUE_H
#define CHATAI_AI_QUEUE_H

#include <stdint.h>
#include "db.h"
#include "util.h"

struct job {
	int64_t id;
	int64_t dialog_id;
	int64_t from_seq;  /* first visitor message answered */
	int64_t up_to_seq; /* last visitor message answered */
	int attempts;      /* this attempt included */
};

/* What chatai_ai_finish() does with a job (see its comment in sql/005_ai.sql). */
struct job_end {
	const char *text;         /* answer to store, or NULL */
	int failed;               /* text is the fallback: ai_failures grows */
	int handoff;              /* hand the dialog to a human */
	const char *handoff_text; /* text of the handoff_requested message */
	const char *state;        /* "done" or "failed" */
	int typing;               /* typing_start may be showing: send typing_stop */
};

/* LISTEN chatai_jobs on db's current connection. 0 or -1. */
int queue_listen(struct db *db) CHATAI_WUR;

/* Read what the socket holds and drop the notifications. Returns how many were
 * dropped, or -1 when the link is broken. */
int queue_drain(struct db *db) CHATAI_WUR;

/* Claim the next ready job. 1 (and *j), 0 when nothing is ready, -1 on failure. */
int queue_claim(struct db *db, const char *worker, int lease_s, struct job *j) CHATAI_WUR;

/* End a claimed job. 0 and outcome ("answered", "handoff", "silent", "duplicate",
 * "lost"), or -1 on failure (the job stays claimed; its lease will run out). */
int queue_finish(struct db *db, const struct job *j, const char *worker,
                 const struct job_end *end, char outcome[16]) CHATAI_WUR;

/* Leave a claimed job for another attempt in delay_s seconds. 0 or -1. */
int queue_retry(struct db *db, const struct job *j, const char *worker, const char *error,
                int delay_s) CHATAI_WUR;

/* Give timed-out waiting dialogs back to the assistant. The number released, or -1. */
int queue_release_waiting(struct db *db, const char *text) CHATAI_WUR;

/* Milliseconds until the next lease expiry or waiting timeout (may be <= 0), or
 * INT64_MAX when there is none. 0 or -1. */
int queue_next_deadline(struct db *db, int64_t *ms) CHATAI_WUR;

/* The worker's heartbeat (ai_workers of sql/001_tables.sql): check in now, or
 * leave (at exit). 0 or -1. */
int queue_heartbeat(struct db *db, const char *worker) CHATAI_WUR;
int queue_goodbye(struct db *db, const char *worker) CHATAI_WUR;

/* Did a worker check in within the last within_s seconds? 1, 0, or -1 on failure. */
int queue_worker_alive(struct db *db, int within_s) CHATAI_WUR;

/* How often a worker checks in, and how old its last check-in may be for it to count as
 * alive (seconds). */
#define QUEUE_HEARTBEAT_S 2
#define QUEUE_ALIVE_S 6

#endif
