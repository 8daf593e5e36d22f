/* SPDX-License-Identifier: MIT */
/*
 * admin: chatai-ctl's operators, assistants and knowledge. Every write goes through the
 * SQL functions of sql/006_admin.sql (chatai_operator_*, chatai_assistant_create,
 * chatai_knowledge_*), the ones the REST API calls, so both apply the same rules:
 *
 *   operator add EMAIL NAME [--role admin|operator]   (password on stdin)
 *   operator list
 *   operator disable|enable OPERATOR                  (OPERATOR: id or email)
 *   operator passwd OPERATOR                          (password on stdin)
 *   assistant add NAME [--greeting TEXT] [--origin ORIGIN]...
 *   knowledge import [--replace-all] ASSISTANT_ID FILE
 */
#include "autoconfig.h"
#include "ctl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "db.h"
#include "json.h"
#include "kbfile.h"
#include "origin.h"
#include "text.h"
#include "token.h"

static const char operator_use[] =
	"usage: chatai-ctl operator add EMAIL NAME [--role admin|operator] | list | disable OPERATOR |"
	" enable OPERATOR | passwd OPERATOR";

/* ---- operators ---------------------------------------------------------------------- */

/* One line from stdin, without its line end; echo off when stdin is a terminal. */
static char *read_password(void)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO);
	char *line = NULL;
	size_t cap = 0;
	if (tty) {
		fputs("Password: ", stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = 0;
		}
	}
	ssize_t n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	if ((size_t)n != strlen(line)) {
		memset(line, 0, (size_t)n);
		free(line);
		errorf("the password must not contain NUL bytes");
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* A new password from stdin, hashed into *hash (owned). 0, or -1 with the reason printed. */
static int new_password(const char *cmd, char **hash)
{
	char *pw = read_password();
	int rc = -1;
	*hash = NULL;
	if (!pw) {
		errorf("no password on stdin (give it as one line: echo \"$PW\" | chatai-ctl operator %s ...)",
		       cmd);
		return -1;
	}
	if (pw[0] == '\0') {
		errorf("the password must not be empty");
	} else if (strlen(pw) > 511) {
		/* crypt(3) (libxcrypt) takes at most 511 bytes. */
		errorf("the password is longer than 511 bytes");
	} else if (password_hash(pw, hash) < 0) {
		errorf("cannot hash the password (crypt: no yescrypt support?)");
	} else {
		if (utf8_count(pw, strlen(pw)) < 10)
			fprintf(stderr, "chatai-ctl: warning: a password of fewer than 10 characters is weak"
					" (the REST API refuses them)\n");
		rc = 0;
	}
	memset(pw, 0, strlen(pw));
	free(pw);
	return rc;
}

/* Connect, run sql (a create function giving the new row's id) and print the id: 0, or
 * EXIT_FAIL (told: dup when a unique key refuses the row, else `what` and the reason). */
static int create_print_id(const char *what, const char *dup, const char *sql, int n,
			   const char *const *params)
{
	PGconn *c = ctl_connect();
	if (!c)
		return EXIT_FAIL;
	int rc = EXIT_FAIL;
	PGresult *r = db_exec_conn(c, sql, n, params);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		printf("%s\n", PQgetvalue(r, 0, 0));
		rc = 0;
	} else if (dup && sqlstate_is(r, "23505")) {
		errorf("%s", dup);
	} else {
		errorf("%s: %s", what, pq_msg(PQresultErrorMessage(r)));
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

static int operator_add(int argc, char **argv)
{
	const char *role = "operator";
	struct opt opts[] = { { "--role", 1, &role, NULL, 0 }, { NULL, 0, NULL, NULL, 0 } };
	const char *pos[2], *why = NULL;
	if (parse_args(argc, argv, opts, pos, 2) != 2)
		die_usage("usage: chatai-ctl operator add EMAIL NAME [--role admin|operator]");
	if (strcmp(role, "admin") != 0 && strcmp(role, "operator") != 0)
		die_usage("--role must be admin or operator, not '%s'", role);
	char *name = NULL, *hash = NULL;
	int rc = EXIT_FAIL;
	if (!email_valid(pos[0])) {
		errorf("'%s' is not a valid email address", pos[0]);
		goto out;
	}
	if (name_validate(pos[1], &name, &why) < 0) {
		errorf("name: %s", why);
		goto out;
	}
	if (new_password("add", &hash) < 0)
		goto out;
	const char *params[] = { pos[0], name, role, hash };
	char *dup = xasprintf("an operator with the email %s already exists", pos[0]);
	rc = create_print_id("adding the operator", dup,
			     "SELECT chatai_operator_create($1, $2, $3, $4) ->> 'id'", 4, params);
	free(dup);
out:
	free(name);
	free(hash);
	return rc;
}

static int operator_list(PGconn *c)
{
	PGresult *r = run(
		c, "listing the operators",
		"SELECT id, email, name, role, CASE WHEN disabled_at IS NULL THEN 'active' ELSE 'disabled' END,"
		" COALESCE(chatai_ts(last_seen_at), '-') FROM operators ORDER BY id",
		0, NULL);
	if (!r)
		return EXIT_FAIL;
	printf("%-6s %-32s %-24s %-8s %-8s %s\n", "ID", "EMAIL", "NAME", "ROLE", "STATE", "LAST SEEN");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%-6s %-32s %-24s %-8s %-8s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		       PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
	PQclear(r);
	return 0;
}

/* The id of OPERATOR (an id or an email) into id (24 bytes); 0, or -1 printed. */
static int operator_find(PGconn *c, const char *who, char id[24])
{
	int64_t n;
	const char *p[] = { who };
	PGresult *r = parse_int64(who, 1, INT64_MAX, &n) == 0
			      ? run(c, "finding the operator",
				    "SELECT id FROM operators WHERE id = $1::bigint", 1, p)
			      : run(c, "finding the operator",
				    "SELECT id FROM operators WHERE lower(email) = lower($1)", 1, p);
	if (!r)
		return -1;
	int found = PQntuples(r) == 1;
	if (found)
		snprintf(id, 24, "%s", PQgetvalue(r, 0, 0));
	else
		errorf("no operator '%s' (give its id or email; chatai-ctl operator list shows them)", who);
	PQclear(r);
	return found ? 0 : -1;
}

/* operator disable|enable|passwd OPERATOR: chatai_operator_update(); disable and passwd
 * revoke every session of the operator (sql/006_admin.sql). */
static int operator_change(PGconn *c, const char *what, const char *who)
{
	char id[24], *hash = NULL;
	int disable = strcmp(what, "disable") == 0, rc = EXIT_FAIL;
	if (operator_find(c, who, id) < 0)
		return EXIT_FAIL;
	if (strcmp(what, "passwd") == 0 && new_password("passwd", &hash) < 0)
		return EXIT_FAIL;
	const char *p[] = { id, hash ? NULL : disable ? "true" : "false", hash };
	PGresult *r = db_exec_conn(
		c,
		"SELECT cardinality(u.revoked) FROM chatai_operator_update($1::bigint, NULL, NULL, $2::boolean, $3) u",
		3, p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		if (sqlstate_is(r, "CA409"))
			errorf("operator %s is the last active admin: it cannot be disabled", id);
		else
			errorf("changing the operator: %s", pq_msg(PQresultErrorMessage(r)));
	} else {
		/* A new password, like a disable, revoked every session of the operator. */
		printf("operator %s %s", id, hash ? "password changed" : disable ? "disabled" : "enabled");
		if (disable || hash)
			printf(" (%s session(s) revoked)", PQgetvalue(r, 0, 0));
		putchar('\n');
		rc = 0;
	}
	PQclear(r);
	free(hash);
	return rc;
}

int cmd_operator(int argc, char **argv)
{
	if (argc < 1)
		die_usage("%s", operator_use);
	if (strcmp(argv[0], "add") == 0)
		return operator_add(argc - 1, argv + 1);
	const char *pos[1];
	int want = strcmp(argv[0], "list") == 0 ? 0 : 1;
	if (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "disable") != 0 &&
	    strcmp(argv[0], "enable") != 0 && strcmp(argv[0], "passwd") != 0)
		die_usage("%s", operator_use);
	if (parse_args(argc - 1, argv + 1, NULL, pos, 1) != want)
		die_usage("%s", operator_use);
	PGconn *c = ctl_connect();
	if (!c)
		return EXIT_FAIL;
	int rc = want ? operator_change(c, argv[0], pos[0]) : operator_list(c);
	PQfinish(c);
	return rc;
}

/* ---- assistant add ------------------------------------------------------------------ */

int cmd_assistant(int argc, char **argv)
{
	static const char use[] =
		"usage: chatai-ctl assistant add NAME [--greeting TEXT] [--origin ORIGIN]...";
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		die_usage("%s", use);
	const char *greeting = "", **origins = NULL, *why = NULL;
	struct opt opts[] = { { "--greeting", 1, &greeting, NULL, 0 },
			      { "--origin", 1, NULL, &origins, 0 },
			      { NULL, 0, NULL, NULL, 0 } };
	const char *pos[1];
	int rc = EXIT_FAIL;
	char *greet = NULL, *origins_json = NULL, *name = NULL;
	cJSON *arr = NULL;
	if (parse_args(argc - 1, argv + 1, opts, pos, 1) != 1)
		die_usage("%s", use);
	if (name_validate(pos[0], &name, &why) < 0) {
		errorf("name: %s", why);
		goto out;
	}
	/* The greeting is sent as the first message of each dialog (common/text.h, as REST). */
	if (text_greeting(greeting, &greet, &why) < 0) {
		errorf("greeting: %s", why);
		goto out;
	}
	arr = cJSON_CreateArray();
	for (size_t i = 0; origins && origins[i]; i++) {
		/* Stored in normal form under the rule REST and the streams apply (common/origin.h). */
		char norm[ORIGIN_NORMAL_MAX];
		if (origin_normalize(origins[i], 1, norm, sizeof norm) < 0) {
			errorf("'%s' is not an origin (write scheme://host[:port], e.g. https://shop.example "
			       "or https://*.shop.example)", origins[i]);
			goto out;
		}
		cJSON_AddItemToArray(arr, cJSON_CreateString(norm));
	}
	origins_json = json_print(arr);
	const char *params[] = { name, greet, origins_json };
	rc = create_print_id("adding the assistant", NULL,
			     "SELECT chatai_assistant_create($1, $2, $3::jsonb) ->> 'id'", 3, params);
out:
	cJSON_Delete(arr);
	free(origins_json);
	free(greet);
	free(name);
	free(origins);
	return rc;
}

/* ---- knowledge import --------------------------------------------------------------- */

/* Store kb's rows in assistant id (text), in c's open transaction: each an upsert (the
 * same question replaces its answer), or all at once in place of the whole set. */
static int knowledge_store(PGconn *c, const char *id, const struct kbfile *kb, const char *file,
			   int replace_all)
{
	if (replace_all) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; i < kb->nrows; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "question", kb->rows[i].question);
			cJSON_AddStringToObject(o, "answer", kb->rows[i].answer);
			cJSON_AddItemToArray(arr, o);
		}
		char *json = json_print(arr);
		cJSON_Delete(arr);
		const char *p[] = { id, json };
		PGresult *r = run(c, "replacing the knowledge",
				  "SELECT chatai_knowledge_replace_all($1::bigint, $2::jsonb)", 2, p);
		free(json);
		if (!r)
			return -1;
		PQclear(r);
		return 0;
	}
	for (size_t i = 0; i < kb->nrows; i++) {
		const char *p[] = { id, kb->rows[i].question, kb->rows[i].answer };
		PGresult *r = run(c, "storing an entry",
				  "SELECT chatai_knowledge_put($1::bigint, $2, $3, true)", 3, p);
		if (!r) {
			errorf("%s: line %d could not be stored; nothing imported", file, kb->rows[i].line);
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

/* The number of entries of assistant id, or -1 (printed). */
static long knowledge_count(PGconn *c, const char *id)
{
	const char *p[] = { id };
	PGresult *r = run(c, "counting the entries",
			  "SELECT count(*) FROM knowledge WHERE assistant_id = $1::bigint", 1, p);
	if (!r)
		return -1;
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

/* Parse FILE into kb; 0, or -1 with every bad row printed. */
static int knowledge_read(const char *file, struct kbfile *kb, char **buf)
{
	size_t len = 0;
	*buf = read_file(file, KB_FILE_MAX, &len);
	if (!*buf)
		return -1;
	if (kbfile_parse(*buf, len, kbfile_guess(strcmp(file, "-") ? file : NULL, *buf, len), kb) < 0) {
		for (size_t i = 0; i < kb->nerrors; i++)
			fprintf(stderr, "%s: %s\n", file, kb->errors[i]);
		errorf("%s: %zu bad row(s); nothing imported", file, kb->nerrors);
		return -1;
	}
	if (kb->nrows == 0) {
		errorf("%s: no entries to import", file);
		return -1;
	}
	return 0;
}

int cmd_knowledge(int argc, char **argv)
{
	static const char use[] = "usage: chatai-ctl knowledge import [--replace-all] ASSISTANT_ID FILE";
	if (argc < 1 || strcmp(argv[0], "import") != 0)
		die_usage("%s", use);
	const char *pos[2], *replace = NULL;
	struct opt opts[] = { { "--replace-all", 0, &replace, NULL, 0 }, { NULL, 0, NULL, NULL, 0 } };
	if (parse_args(argc - 1, argv + 1, opts, pos, 2) != 2)
		die_usage("%s", use);
	int64_t aid;
	if (parse_int64(pos[0], 1, INT64_MAX, &aid) < 0)
		die_usage("ASSISTANT_ID must be a positive integer, not '%s'", pos[0]);
	const char *file = pos[1];
	struct kbfile kb;
	int rc = EXIT_FAIL, in_tx = 0;
	PGconn *c = NULL;
	char *buf = NULL, id[24];
	long before = 0, after = 0;
	memset(&kb, 0, sizeof kb);
	snprintf(id, sizeof id, "%lld", (long long)aid);
	const char *p1[] = { id };
	if (knowledge_read(file, &kb, &buf) < 0 || !(c = ctl_connect()) || run_cmd(c, "BEGIN", "BEGIN") < 0)
		goto out;
	in_tx = 1;
	PGresult *r =
		run(c, "looking up the assistant", "SELECT 1 FROM assistants WHERE id = $1 FOR SHARE", 1, p1);
	if (!r)
		goto out;
	int found = PQntuples(r) == 1;
	PQclear(r);
	if (!found) {
		errorf("no assistant with id %s (chatai-ctl assistant add creates one)", id);
		goto out;
	}
	if ((before = knowledge_count(c, id)) < 0 || knowledge_store(c, id, &kb, file, replace != NULL) < 0 ||
	    (after = knowledge_count(c, id)) < 0 || run_cmd(c, "COMMIT", "COMMIT") < 0)
		goto out;
	in_tx = 0;
	if (replace)
		printf("imported %zu entries into assistant %s (replacing all %ld before)\n", kb.nrows, id,
		       before);
	else
		printf("imported %zu entries into assistant %s (%ld new, %ld replaced)\n", kb.nrows, id,
		       after - before, (long)kb.nrows - (after - before));
	rc = 0;
out:
	if (c) {
		if (in_tx)
			PQclear(PQexec(c, "ROLLBACK"));
		PQfinish(c);
	}
	kbfile_free(&kb);
	free(buf);
	return rc;
}
