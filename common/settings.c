/* SPDX-License-Identifier: MIT */
/* settings: the table of settings.def, its value rules and the typed getters. */
#include "autoconfig.h"
#include "settings.h"
#include "config.h"
#include "credis.h"
#include "log.h"
#include "mailaddr.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FCGI     SU_FCGI
#define NOTIFIER SU_NOTIFIER
#define AI       SU_AI
#define CTL      SU_CTL

const struct setting settings_table[SET_COUNT] = {
#define SETTING(key, kind, policy, def, min, max, choices, users, shown, doc) \
	{ #key, SK_##kind, SP_##policy, def, min, max, choices, users, shown, doc },
#include "settings.def"
#undef SETTING
};

#undef FCGI
#undef NOTIFIER
#undef AI
#undef CTL

const struct setting *settings_find(const char *key)
{
	for (size_t i = 0; i < SET_COUNT; i++)
		if (strcmp(settings_table[i].key, key) == 0)
			return &settings_table[i];
	return NULL;
}

/* Damerau-Levenshtein distance (adjacent transpositions count one), for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1;
		}
	return d[la][lb];
}

const char *settings_nearest(const char *key)
{
	const char *best = NULL;
	size_t bd = 4;
	for (size_t i = 0; i < SET_COUNT; i++) {
		size_t d = edit_distance(key, settings_table[i].key);
		if (d < bd) {
			bd = d;
			best = settings_table[i].key;
		}
	}
	return best;
}

int settings_addr_port(const char *spec, int numeric_host, const char **why)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec) {
		*why = "expected ADDRESS:PORT";
		return 0;
	}
	int64_t p;
	if (parse_int64(colon + 1, 1, 65535, &p) < 0) {
		*why = "the port must be a number from 1 to 65535";
		return 0;
	}
	char host[256];
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof host) {
		*why = "expected ADDRESS:PORT";
		return 0;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	unsigned char buf[16];
	if (numeric_host && inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
		*why = "the address must be numeric (127.0.0.1, 0.0.0.0, [::1])";
		return 0;
	}
	for (const char *c = host; *c; c++)
		if (isspace((unsigned char)*c)) {
			*why = "the address contains a space";
			return 0;
		}
	return 1;
}

static const char *int_problem(const struct setting *s, const char *v, char *buf, size_t bufsz)
{
	int64_t n;
	if (parse_int64(v, s->min, s->max, &n) == 0)
		return NULL;
	if (s->max == INT32_MAX)
		snprintf(buf, bufsz, "expected an integer >= %lld", (long long)s->min);
	else
		snprintf(buf, bufsz, "expected an integer from %lld to %lld", (long long)s->min,
			 (long long)s->max);
	return buf;
}

static const char *enum_problem(const struct setting *s, const char *v, char *buf, size_t bufsz)
{
	size_t vl = strlen(v);
	int anycase = strncmp(s->key, "log_", 4) == 0; /* as log_init() reads them */
	for (const char *c = s->choices; *c;) {
		size_t l = strcspn(c, "|");
		if (l == vl && (anycase ? strncasecmp(c, v, l) : strncmp(c, v, l)) == 0)
			return NULL;
		c += l + (c[l] == '|');
	}
	snprintf(buf, bufsz, "expected one of %s", s->choices);
	for (char *p = buf; *p; p++)
		if (*p == '|')
			*p = ' ';
	return buf;
}

static const char *pgurl_problem(const char *v, char *buf, size_t bufsz)
{
	char *err = NULL;
	PQconninfoOption *o = PQconninfoParse(v, &err);
	if (o) {
		PQconninfoFree(o);
		return NULL;
	}
	snprintf(buf, bufsz, "not a libpq connection string: %s", err ? err : "out of memory");
	PQfreemem(err);
	size_t l = strlen(buf);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		buf[--l] = '\0';
	return buf;
}

static const char *redisurl_problem(const char *v, char *buf, size_t bufsz)
{
	struct credis_url u;
	const char *why = NULL;
	if (credis_url_parse(v, &u, &why) == 0) {
		credis_url_free(&u);
		return NULL;
	}
	snprintf(buf, bufsz, "%s", why ? why : "not a redis URL");
	return buf;
}

static const char *url_problem(const char *v, const char *const *schemes, const char *expected)
{
	int ok = 0;
	for (; *schemes && !ok; schemes++)
		ok = strncasecmp(v, *schemes, strlen(*schemes)) == 0 && v[strlen(*schemes)];
	if (!ok)
		return expected;
	if (strpbrk(v, " \t\r\n\"<>#"))
		return "a URL here has no spaces, quotes, <, > or #";
	return NULL;
}

static const char *smtp_problem(const char *v)
{
	static const char *const smtp[] = { "smtp://", "smtps://", NULL };
	if (strcmp(v, "sendmail:") == 0)
		return NULL;
	return url_problem(v, smtp, "expected smtp://host[:port], smtps://host[:port] or sendmail:");
}

/* Each comma separated item of v through ok(item); the first bad one is named in buf. */
static const char *list_problem(const char *v, const char *seps, int (*ok)(const char *, const char **),
				const char *empty, char *buf, size_t bufsz)
{
	char *copy = xstrdup(v), *save = NULL;
	const char *why = NULL;
	int n = 0;
	for (char *t = strtok_r(copy, seps, &save); t; t = strtok_r(NULL, seps, &save)) {
		while (*t == ' ')
			t++;
		for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
			*--e = '\0';
		if (!*t)
			continue;
		n++;
		if (!ok(t, &why)) {
			snprintf(buf, bufsz, "'%s': %s", t, why);
			free(copy);
			return buf;
		}
	}
	free(copy);
	return n ? NULL : empty;
}

static int listen_ok(const char *t, const char **why)
{
	return settings_addr_port(t, 1, why);
}

static int addr_ok(const char *t, const char **why)
{
	unsigned char a[16];
	*why = "not a numeric address";
	return strcmp(t, "none") == 0 || inet_pton(AF_INET, t, a) == 1 || inet_pton(AF_INET6, t, a) == 1;
}

static int email_ok(const char *t, const char **why)
{
	*why = "not an email address";
	return mail_addr_valid(t);
}

static const char *fcgi_problem(const char *v, char *buf, size_t bufsz)
{
	const char *why = NULL;
	if (v[0] == '/') {
		char *dir = xstrdup(v);
		char *slash = strrchr(dir, '/');
		struct stat st;
		*slash = '\0';
		int ok = stat(*dir ? dir : "/", &st) == 0 && S_ISDIR(st.st_mode);
		free(dir);
		return ok ? NULL : "the socket's directory does not exist";
	}
	if (settings_addr_port(v, 0, &why))
		return NULL;
	snprintf(buf, bufsz, "%s (or an absolute socket path)", why);
	return buf;
}

const char *settings_problem(const struct setting *s, const char *v, char *buf, size_t bufsz)
{
	static const char *const http[] = { "http://", "https://", NULL };
	switch (s->kind) {
	case SK_TEXT:
		return NULL;
	case SK_INT:
		return int_problem(s, v, buf, bufsz);
	case SK_ENUM:
		return enum_problem(s, v, buf, bufsz);
	case SK_PGURL:
		return pgurl_problem(v, buf, bufsz);
	case SK_REDISURL:
		return redisurl_problem(v, buf, bufsz);
	case SK_HTTPURL:
		return url_problem(v, http, "expected an http:// or https:// URL");
	case SK_SMTPURL:
		return smtp_problem(v);
	case SK_LISTEN:
		return list_problem(v, ",", listen_ok, "expected ADDRESS:PORT[,ADDRESS:PORT...]", buf, bufsz);
	case SK_FCGI:
		return fcgi_problem(v, buf, bufsz);
	case SK_ADDRS:
		return list_problem(v, ", ", addr_ok, "expected addresses or none", buf, bufsz);
	case SK_EMAIL:
		return mail_addr_valid(v) ? NULL : "expected a plain email address (name@example.com)";
	case SK_EMAILS:
		return list_problem(v, ",", email_ok, "expected email addresses", buf, bufsz);
	}
	return NULL;
}

int settings_fallback_int(const struct setting *s, const char *v, int64_t *used)
{
	int64_t n;
	if (parse_int64(v, s->min, s->max, &n) == 0)
		return 0;
	if (parse_int64(v, INT64_MIN, INT64_MAX, &n) < 0)
		n = s->def ? strtoll(s->def, NULL, 10) : 0;
	*used = n < s->min ? s->min : n > s->max ? s->max : n;
	return 1;
}

/* "chatai.fcgi", "chatai.fcgi and chatai-notifier", ... (chatai-ctl left out). */
static void users_text(unsigned users, char *buf, size_t bufsz)
{
	static const struct {
		unsigned bit;
		const char *name;
	} progs[] = { { SU_AI, "chatai-ai" },
		      { SU_FCGI, "chatai.fcgi" },
		      { SU_NOTIFIER, "chatai-notifier" } };
	size_t o = 0;
	int n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++)
		if ((users & progs[i].bit) && o < bufsz)
			o += (size_t)snprintf(buf + o, bufsz - o, "%s%s", n++ ? " and " : "", progs[i].name);
	if (!n)
		snprintf(buf, bufsz, "chatai-ctl");
}

/* The daemon that refuses to start on a bad SP_REFUSE value (chatai.fcgi reads the ai_*
 * keys too, but only stops answering inline). */
static const char *owner(unsigned users)
{
	if (users & SU_AI)
		return "chatai-ai";
	return users & SU_FCGI ? "chatai.fcgi" : "chatai-notifier";
}

void settings_consequence(const struct setting *s, const char *v, char *buf, size_t bufsz)
{
	char who[96];
	int64_t used;
	users_text(s->users, who, sizeof who);
	if (s->kind == SK_INT && parse_int64(v, INT64_MIN, INT64_MAX, &used) < 0)
		snprintf(buf, bufsz, "%s use%s the default, %s", who, strchr(who, ' ') ? "" : "s",
			 s->def ? s->def : s->shown);
	else if (s->policy == SP_REFUSE)
		snprintf(buf, bufsz, "%s refuses to start", owner(s->users));
	else if (s->policy == SP_MAIL_OFF)
		snprintf(buf, bufsz, "no mail is sent");
	else if (s->kind == SK_INT && settings_fallback_int(s, v, &used))
		snprintf(buf, bufsz, "%s use%s %" PRId64 " instead", who, strchr(who, ' ') ? "" : "s", used);
	else
		snprintf(buf, bufsz, "%s ignore%s it", who, strchr(who, ' ') ? "" : "s");
}

const char *settings_str(enum setting_id id)
{
	return config_get(settings_table[id].key, settings_table[id].def);
}

int settings_int(enum setting_id id, int64_t *v)
{
	const struct setting *s = &settings_table[id];
	const char *text = config_get(s->key, NULL);
	int64_t n;
	if (s->def && parse_int64(s->def, INT64_MIN, INT64_MAX, v) < 0)
		abort(); /* settings.def gives an integer key a non-integer default */
	if (!text)
		return 0;
	if (parse_int64(text, INT64_MIN, INT64_MAX, &n) < 0) {
		log_warn("config: %s = \"%s\" is not an integer; using %" PRId64, s->key, text, *v);
		return 0;
	}
	if (n >= s->min && n <= s->max) {
		*v = n;
		return 0;
	}
	if (s->policy != SP_FALLBACK) {
		log_error("setting %s = %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", s->key, n,
			  s->min, s->max);
		return -1;
	}
	*v = n < s->min ? s->min : s->max;
	log_warn("setting %s = %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]; using %" PRId64,
		 s->key, n, s->min, s->max, *v);
	return 0;
}
