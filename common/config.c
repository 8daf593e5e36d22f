/* SPDX-License-Identifier: MIT */
/* config: settings from a key = value file and CHATAI_* environment variables. */
#include "autoconfig.h"
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CHATAI_SYSCONFDIR
#define CHATAI_SYSCONFDIR "/etc"
#endif

struct kv {
	char *key;
	char *value;
	struct kv *next;
};

static struct kv *file_kv;     /* from the file */
static struct kv *set_kv;      /* from config_set() */
static struct kv *env_cache;   /* env values handed out (kept until config_free) */
static char *loaded_path;

static void kv_free(struct kv **head)
{
	struct kv *k = *head;
	while (k) {
		struct kv *n = k->next;
		free(k->key);
		free(k->value);
		free(k);
		k = n;
	}
	*head = NULL;
}

static struct kv *kv_find(struct kv *head, const char *key)
{
	for (; head; head = head->next)
		if (strcmp(head->key, key) == 0)
			return head;
	return NULL;
}

static void kv_put(struct kv **head, const char *key, const char *value)
{
	struct kv *k = kv_find(*head, key);
	if (k) {
		free(k->value);
		k->value = xstrdup(value);
		return;
	}
	k = xcalloc(1, sizeof *k);
	k->key = xstrdup(key);
	k->value = xstrdup(value);
	k->next = *head;
	*head = k;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cut a trailing comment off a value: a `#` that follows whitespace (or starts the value
 * after `= `) outside double quotes starts a comment, as in
 *   fcgi_listen = 127.0.0.1:9000   # external pool address
 * A `#` inside a word (`pass#word`) or inside quotes ("a # b") is part of the value. */
static void strip_comment(char *v)
{
	int quoted = 0;
	for (char *p = v; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '#' && !quoted && p > v && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
	}
}

static int parse_file(FILE *f, struct kv **out, int *bad_line)
{
	char line[4096];
	int lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		/* A line longer than the buffer would be cut and its tail read as a line of
		 * its own: refuse it instead. */
		if (!strchr(line, '\n') && !feof(f)) {
			*bad_line = lineno;
			return -1;
		}
		char *s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			*bad_line = lineno;
			return -1;
		}
		*eq = '\0';
		char *key = trim(s);
		strip_comment(eq + 1);
		char *val = trim(eq + 1);
		if (*key == '\0') {
			*bad_line = lineno;
			return -1;
		}
		for (char *p = key; *p; p++) {
			if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.')) {
				*bad_line = lineno;
				return -1;
			}
			*p = (char)tolower((unsigned char)*p);
		}
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		}
		kv_put(out, key, val);
	}
	return 0;
}

/* Directories a settings file may come from without being named: only ones that the
 * program's owner (or root) owns and nobody else may write to, so that nobody else can
 * plant a chatai.conf there (/tmp, a group-writable folder). */
static int trusted_dir(const struct stat *st, uid_t owner)
{
	return (st->st_uid == owner || st->st_uid == 0) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* Where the host passes no environment (mod_fcgid, suexec, plain CGI under a shared
 * host's .htaccess): the nearest chatai.conf in the program's own directory or above it,
 * walking up through trusted directories only (public_html/api/chatai.fcgi finds
 * ~/chatai.conf, outside the web space). 0 and *out set when found. */
static int find_beside_program(char *out, size_t outsz)
{
	char dir[4096];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0)
		return -1;
	dir[n] = '\0';
	struct stat st;
	if (stat(dir, &st) != 0)
		return -1;
	uid_t owner = st.st_uid;
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			return -1;
		*slash = '\0'; /* dir: the parent of what it named */
		const char *d = *dir ? dir : "/";
		struct stat ds;
		if (stat(d, &ds) != 0 || !trusted_dir(&ds, owner))
			return -1;
		if ((size_t)snprintf(out, outsz, "%s/chatai.conf", *dir ? dir : "") >= outsz)
			return -1;
		struct stat fs;
		if (stat(out, &fs) == 0 && S_ISREG(fs.st_mode) && trusted_dir(&fs, owner))
			return 0;
		if (!*dir)
			return -1;
	}
}

int config_load(const char *path, const char **err)
{
	static char errbuf[4096 + 512];
	static char found[4096];
	int explicit = 1;
	if (!path)
		path = getenv("CHATAI_CONFIG");
	if (!path || !*path) {
		path = CHATAI_SYSCONFDIR "/chatai.conf";
		explicit = 0;
		if (access(path, R_OK) != 0 && find_beside_program(found, sizeof found) == 0) {
			path = found;
			explicit = 1; /* found but unreadable: say so rather than run without it */
		}
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		if (explicit) {
			snprintf(errbuf, sizeof errbuf, "%s: %s", path, strerror(errno));
			*err = errbuf;
			return -1;
		}
		kv_free(&file_kv);
		free(loaded_path);
		loaded_path = NULL;
		return 0;
	}
	struct kv *fresh = NULL;
	int bad = 0;
	int rc = parse_file(f, &fresh, &bad);
	fclose(f);
	if (rc < 0) {
		kv_free(&fresh);
		snprintf(errbuf, sizeof errbuf, "%s:%d: expected key = value", path, bad);
		*err = errbuf;
		return -1;
	}
	kv_free(&file_kv);
	file_kv = fresh;
	free(loaded_path);
	loaded_path = xstrdup(path);
	return 0;
}

void config_set(const char *key, const char *value)
{
	kv_put(&set_kv, key, value);
}

const char *config_get(const char *key, const char *def)
{
	struct kv *k = kv_find(set_kv, key);
	if (k)
		return *k->value ? k->value : def;
	char env[128] = "CHATAI_";
	size_t o = strlen(env);
	for (const char *p = key; *p && o + 1 < sizeof env; p++)
		env[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	env[o] = '\0';
	const char *ev = getenv(env);
	if (ev) {
		/* Keep a private copy so the pointer stays valid if the environment changes. */
		struct kv *c = kv_find(env_cache, key);
		if (!c || strcmp(c->value, ev) != 0) {
			kv_put(&env_cache, key, ev);
			c = kv_find(env_cache, key);
		}
		return *c->value ? c->value : def;
	}
	k = kv_find(file_kv, key);
	if (k)
		return *k->value ? k->value : def;
	return def;
}

int64_t config_get_int(const char *key, int64_t def)
{
	const char *v = config_get(key, NULL);
	int64_t n;
	if (!v)
		return def;
	if (parse_int64(v, INT64_MIN, INT64_MAX, &n) < 0) {
		log_warn("config: %s = \"%s\" is not an integer; using %lld", key, v, (long long)def);
		return def;
	}
	return n;
}

int config_get_bool(const char *key, int def)
{
	const char *v = config_get(key, NULL);
	if (!v)
		return def;
	if (!strcasecmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on"))
		return 1;
	if (!strcasecmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off"))
		return 0;
	log_warn("config: %s = \"%s\" is not a boolean; using %d", key, v, def);
	return def;
}

void config_each_file_key(void (*fn)(const char *key, const char *value, void *arg), void *arg)
{
	for (struct kv *k = file_kv; k; k = k->next)
		fn(k->key, k->value, arg);
}

const char *config_path(void)
{
	return loaded_path;
}

void config_free(void)
{
	kv_free(&file_kv);
	kv_free(&set_kv);
	kv_free(&env_cache);
	free(loaded_path);
	loaded_path = NULL;
}
