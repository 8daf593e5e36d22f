/* SPDX-License-Identifier: MIT */
/*
 * authcache: what a REST process remembers of the database's answers to "who is this?"
 * so that an ordinary request is one round trip: verified operator sessions (by token
 * hash) and widget dialogs (assistant, allowed origins, by dialog id and one of the
 * dialog's visitor token hashes: a dialog opens to several, dialog_visitor_tokens).
 *
 * The rule that makes it safe: an entry is used only while the process LISTENs, and
 * every change that could make an entry wrong sends a NOTIFY at commit (the triggers of
 * sql/008_triggers.sql: revoke, operator, assistant). The long-poll dispatcher, which
 * owns the LISTEN link, drops the entries those notifications name; a lost link turns
 * the cache off until the link is back, then starts it empty.
 *
 * No request trusts an entry while a notification is being read: the dispatcher marks
 * itself busy while it reads and applies notifications, and a lookup also misses while
 * the LISTEN socket has unread bytes. The bound on staleness is therefore the time
 * PostgreSQL takes to deliver a notification to its listeners (it signals their
 * backends at commit; normally well under a millisecond, longer on a saturated host),
 * and never more than auth_cache_ttl. The process that served a logout forgets the
 * session before it answers.
 *
 * Entries also age out after `auth_cache_ttl` seconds (default 10; 0 turns the cache
 * off), and a session entry never outlives the session's expires_at. The session
 * query that fills an entry also moves operators.last_seen_at (at most once a minute),
 * so that write happens once per TTL at most, never per request.
 */
#ifndef CHATAI_FCGI_AUTHCACHE_H
#define CHATAI_FCGI_AUTHCACHE_H

#include <stdint.h>

#define AC_HASH_CHARS 64

struct ac_session {
	int64_t session_id;
	int64_t operator_id;
	int is_admin;
	int64_t expires_s; /* the session's expires_at, Unix seconds */
	char *json;        /* {"id","email","name","role"}: owned by the caller of _get */
};

struct ac_dialog {
	int64_t assistant_id;
	char token_hash[AC_HASH_CHARS + 1];
	char *allowed_json; /* the assistant's allowed_origins as JSON: owned by the caller of _get */
};

/* ttl_s: seconds an entry may live (0: never cache). */
void authcache_init(int64_t ttl_s);

/* The generation to read BEFORE the query whose answer is then _put: an invalidation
 * in between makes the _put a no-op. */
uint64_t authcache_gen(void);

/* 1 and *out filled (json copied) on a usable entry, 0 otherwise. */
int authcache_session_get(const char *hash, struct ac_session *out);
void authcache_session_put(const char *hash, const struct ac_session *s, uint64_t gen);
/* Dialog entries are keyed by the dialog and a token hash that opens it (d->token_hash):
 * only tokens the database accepted are put. */
int authcache_dialog_get(int64_t dialog_id, const char *token_hash, struct ac_dialog *out);
void authcache_dialog_put(int64_t dialog_id, const struct ac_dialog *d, uint64_t gen);

/* Called by the LISTEN link's owner. */
void authcache_listening(int fd);   /* the link is up on fd (-1: down); empties the cache */
void authcache_busy(int busy);      /* 1 before reading notifications, 0 once applied */
/* Apply one payload of channel `chatai`; 1 when it was a cache event. */
int authcache_note(const char *k, int64_t id);
void authcache_flush(void);
/* The cache event of a parsed payload of channel `chatai` (k revoke, operator or
 * assistant: authcache_note, or authcache_flush without its id); others: nothing. */
struct cJSON;
void authcache_event(const struct cJSON *o);

#endif
