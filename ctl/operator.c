/* SPDX-License-Identifier: MIT */
/* operator: `chatai-ctl operator add EMAIL NAME [--role admin|operator]`, the password read
 * from stdin (never the command line, where `ps` shows it) and stored as a yescrypt hash. */
#include "autoconfig.h"
#include "ctl.h"
#include "db.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

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

int cmd_operator(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		die_usage("usage: chatai-ctl operator add EMAIL NAME [--role admin|operator]");
	const char *role = "operator";
	struct opt opts[] = { { "--role", 1, &role, NULL, 0 }, { NULL, 0, NULL, NULL, 0 } };
	const char *pos[2];
	if (parse_args(argc - 1, argv + 1, opts, pos, 2) != 2)
		die_usage("usage: chatai-ctl operator add EMAIL NAME [--role admin|operator]");
	const char *email = pos[0], *name = pos[1], *why = NULL;
	if (strcmp(role, "admin") != 0 && strcmp(role, "operator") != 0)
		die_usage("--role must be admin or operator, not '%s'", role);
	if (!email_valid(email)) {
		errorf("'%s' is not a valid email address", email);
		return EXIT_FAIL;
	}
	if (!valid_name(name, &why)) {
		errorf("name: %s", why);
		return EXIT_FAIL;
	}

	char *pw = read_password(), *hash = NULL;
	PGconn *c = NULL;
	int rc = EXIT_FAIL;
	if (!pw) {
		errorf("no password on stdin (give it as one line: echo \"$PW\" | chatai-ctl operator add ...)");
		goto out;
	}
	if (pw[0] == '\0') {
		errorf("the password must not be empty");
		goto out;
	}
	if (strlen(pw) > 511) {
		/* crypt(3) (libxcrypt) takes at most 511 bytes. */
		errorf("the password is longer than 511 bytes");
		goto out;
	}
	if (strlen(pw) < 8)
		fprintf(stderr, "chatai-ctl: warning: a password of fewer than 8 characters is weak\n");
	if (password_hash(pw, &hash) < 0) {
		errorf("cannot hash the password (crypt: no yescrypt support?)");
		goto out;
	}
	c = ctl_connect();
	if (!c)
		goto out;
	const char *params[] = { email, name, role, hash };
	PGresult *r = db_exec_conn(c,
				   "INSERT INTO operators (email, name, role, password_hash) "
				   "VALUES ($1, $2, $3, $4) RETURNING id",
				   4, params);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		if (sqlstate_is(r, "23505"))
			errorf("an operator with the email %s already exists", email);
		else
			errorf("adding the operator: %s", pq_msg(PQresultErrorMessage(r)));
		PQclear(r);
		goto out;
	}
	rc = print_new_id(r);
out:
	if (c)
		PQfinish(c);
	if (pw) {
		memset(pw, 0, strlen(pw));
		free(pw);
	}
	free(hash);
	return rc;
}
