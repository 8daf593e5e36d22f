/* SPDX-License-Identifier: MIT */
/*
 * settings: the table of every settings key (common/settings.def) and the typed getters
 * the programs' loaders use, so that a key's default, range and rule are written once.
 * `chatai-ctl check` validates a value with settings_problem(), the same rule the getters
 * apply, so check refuses what the programs refuse.
 *
 * What a bad value does (the key's policy in settings.def):
 *   - an integer that is not a number: the default is used, with a warning (every key);
 *   - an integer out of [min, max]: SP_REFUSE and SP_MAIL_OFF, settings_int() logs an
 *     error and returns -1 (the program refuses to start, or sends no mail); SP_FALLBACK,
 *     the nearest bound, with a warning.
 * The strings returned are config.h's (valid until the next config_load()).
 */
#ifndef CHATAI_SETTINGS_H
#define CHATAI_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

enum setting_kind {
	SK_TEXT,     /* any text */
	SK_INT,      /* integer in [min, max] */
	SK_ENUM,     /* one of choices (|-separated) */
	SK_PGURL,    /* libpq connection string or URI */
	SK_REDISURL, /* redis://host:port/db, unix:///path or /path */
	SK_HTTPURL,  /* http:// or https:// URL */
	SK_SMTPURL,  /* smtp:// or smtps:// URL, or sendmail: */
	SK_LISTEN,   /* comma separated ADDR:PORT with numeric addresses ([::1]:8081) */
	SK_FCGI,     /* HOST:PORT or an absolute socket path */
	SK_ADDRS,    /* comma separated numeric addresses, or none */
	SK_EMAIL,    /* one email address */
	SK_EMAILS,   /* comma separated email addresses */
};

enum setting_policy {
	SP_REFUSE,   /* the programs do not start on a value outside the rule */
	SP_FALLBACK, /* they warn and use the nearest bound or the default */
	SP_MAIL_OFF, /* they log an error and send no mail */
};

/* The programs that read a key (settings.def's users). */
enum { SU_FCGI = 1, SU_NOTIFIER = 2, SU_AI = 4, SU_CTL = 8 };

enum setting_id {
#define SETTING(key, ...) SET_##key,
#include "settings.def"
#undef SETTING
	SET_COUNT
};

struct setting {
	const char *key;
	enum setting_kind kind;
	enum setting_policy policy;
	const char *def;     /* default as text; NULL: unset, or worked out by the program */
	int64_t min, max;    /* SK_INT */
	const char *choices; /* SK_ENUM: "a|b|c" */
	unsigned users;      /* SU_* */
	const char *shown;   /* the default as the docs print it; NULL: def */
	const char *doc;     /* one line */
};

extern const struct setting settings_table[SET_COUNT];

/* The entry of key, or NULL when no program knows it. */
const struct setting *settings_find(const char *key);

/* The known key nearest to an unknown one (at most 3 edits away), or NULL. */
const char *settings_nearest(const char *key);

/* Why value is refused for s, or NULL when it is fine. The reason is static text or
 * written into buf. */
const char *settings_problem(const struct setting *s, const char *value, char *buf, size_t bufsz);

/* The value the programs use for a bad value of an SK_INT key with policy SP_FALLBACK:
 * the nearest bound, or the default when it is not a number. 0 when value is fine. */
int settings_fallback_int(const struct setting *s, const char *value, int64_t *used);

/* What the programs that read s do with a bad value, as a phrase for messages:
 * "chatai-ai refuses to start" or "the programs use 300 instead". */
void settings_consequence(const struct setting *s, const char *value, char *buf, size_t bufsz);

/* The value of a key (file, environment or config_set), else its default (may be NULL). */
const char *settings_str(enum setting_id id);

/* An integer key into *v. Unset: the default; when the table has none, *v is left as
 * the caller set it (a default worked out from other keys). 0, or -1 (logged) when the
 * key's policy is SP_REFUSE or SP_MAIL_OFF and the value is out of range. */
int settings_int(enum setting_id id, int64_t *v);

/* A numeric address and port, 127.0.0.1:8081 or [::1]:8081 (numeric_host: the host must
 * be an IP address). 1 when well formed, else 0 and *why. */
int settings_addr_port(const char *spec, int numeric_host, const char **why);

#endif
