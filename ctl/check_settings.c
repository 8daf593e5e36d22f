/* SPDX-License-Identifier: MIT */
/* check_settings: `chatai-ctl check`'s settings lines, from the one table of keys
 * (common/settings.def): an unknown key with the nearest known one, every value with the
 * rule the programs apply (and what they do with a bad one), and the file's mode. */
#include "autoconfig.h"
#include "check_host.h"
#include "config.h"
#include "credis.h"
#include "settings.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The keys whose values may hold a password or a key: never printed. */
static int secret_key(const char *key)
{
	return !strcmp(key, "database_url") || !strcmp(key, "redis_url") || !strcmp(key, "ai_api_key") ||
	       !strcmp(key, "smtp_url");
}

/* 1 when a value of a secret key holds a password or an API key. */
static int holds_secret(const char *key, const char *value)
{
	int secret = 0;
	if (!strcmp(key, "ai_api_key"))
		return 1;
	if (!strcmp(key, "database_url")) {
		PQconninfoOption *o = PQconninfoParse(value, NULL);
		for (PQconninfoOption *p = o; p && p->keyword; p++)
			if (!strcmp(p->keyword, "password") && p->val && *p->val)
				secret = 1;
		if (o)
			PQconninfoFree(o);
	}
	if (!strcmp(key, "redis_url")) {
		struct credis_url u;
		const char *why;
		if (credis_url_parse(value, &u, &why) == 0) {
			secret = u.password != NULL;
			credis_url_free(&u);
		}
	}
	if (!strcmp(key, "smtp_url")) {
		const char *auth = strstr(value, "://"), *at = auth ? strchr(auth + 3, '@') : NULL;
		secret = at && memchr(auth + 3, ':', (size_t)(at - auth - 3)) != NULL;
	}
	return secret;
}

struct key_scan {
	int bad;
	int secret; /* the file holds a password or an API key */
};

static void check_file_key(const char *key, const char *value, void *arg)
{
	struct key_scan *ks = arg;
	if (!settings_find(key)) {
		const char *best = settings_nearest(key);
		if (best)
			check_line(0, "settings", "%s: unknown key '%s' (did you mean %s?)", config_path(),
				   key, best);
		else
			check_line(0, "settings", "%s: unknown key '%s' (chatai.conf(5) lists the keys)",
				   config_path(), key);
		ks->bad = 1;
		return;
	}
	if (*value && secret_key(key) && holds_secret(key, value))
		ks->secret = 1;
}

/* Every value, wherever it comes from (file or CHATAI_* environment), by the rule the
 * programs apply; a bad one is named with what the programs do with it. 1 when one is bad. */
static int check_values(void)
{
	int bad = 0;
	char why_buf[512], then[160];
	for (size_t i = 0; i < SET_COUNT; i++) {
		const struct setting *s = &settings_table[i];
		const char *v = config_get(s->key, NULL);
		const char *why = v ? settings_problem(s, v, why_buf, sizeof why_buf) : NULL;
		if (!why)
			continue;
		settings_consequence(s, v, then, sizeof then);
		check_line(0, "settings", "%s = \"%s\": %s (%s)", s->key, secret_key(s->key) ? "..." : v, why,
			   then);
		bad = 1;
	}
	return bad;
}

/* Rules between keys, as the programs apply them. 1 when one is broken. */
static int check_combinations(void)
{
	int bad = 0;
	if (!strcmp(settings_str(SET_ai_provider), "openai") &&
	    (!settings_str(SET_ai_base_url) || !settings_str(SET_ai_model))) {
		check_line(
			0, "settings",
			"ai_provider = openai needs ai_base_url and ai_model (chatai-ai refuses to start)");
		bad = 1;
	}
	const char *timeout = settings_str(SET_ai_timeout), *lease = config_get("ai_lease", NULL);
	char buf[160];
	if (lease && !settings_problem(&settings_table[SET_ai_lease], lease, buf, sizeof buf) &&
	    !settings_problem(&settings_table[SET_ai_timeout], timeout, buf, sizeof buf) &&
	    strtoll(lease, NULL, 10) <= strtoll(timeout, NULL, 10))
		printf("warn settings: ai_lease is not longer than ai_timeout: slow answers may be retried\n");
	if (settings_str(SET_smtp_url) && (!settings_str(SET_mail_from) || !settings_str(SET_public_url))) {
		check_line(0, "settings", "smtp_url needs mail_from and public_url (no mail is sent)");
		bad = 1;
	}
	if (!settings_str(SET_database_url)) {
		check_line(0, "settings",
			   "database_url is not set (CHATAI_DATABASE_URL or database_url in %s)",
			   config_path() ? config_path()
					 : CHATAI_SYSCONFDIR "/chatai.conf, which does not exist");
		bad = 1;
	}
	return bad;
}

void check_settings(void)
{
	int bad = 0;
	/* the file: unknown keys, and who may read it */
	if (config_path()) {
		struct key_scan ks = { 0, 0 };
		config_each_file_key(check_file_key, &ks);
		bad |= ks.bad;
		struct stat st;
		if (ks.secret && stat(config_path(), &st) == 0 && (st.st_mode & S_IROTH)) {
			check_line(
				0, "settings",
				"%s holds a password and every user may read it (mode %03o): chmod 640 it, "
				"group chatai (or the web server's group)",
				config_path(), (unsigned)(st.st_mode & 0777));
			bad = 1;
		}
	}
	bad |= check_values();
	bad |= check_combinations();
	if (!bad)
		check_line(1, "settings", "%s",
			   config_path() ? config_path() : "no settings file (environment only)");
}
