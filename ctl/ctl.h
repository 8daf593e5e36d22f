/* SPDX-License-Identifier: MIT */
/*
 * ctl: what the files of chatai-ctl share: exit codes, messages, the argument parser and
 * the database helpers (chatai-ctl.c), and the commands of the other files.
 */
#ifndef CHATAI_CTL_H
#define CHATAI_CTL_H

#include <libpq-fe.h>
#include <stddef.h>
#include "util.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Largest knowledge file read (bytes). */
#define KB_FILE_MAX (64 * 1024 * 1024)

/* "chatai-ctl: " + the message on stderr; die_usage() adds a hint and exits EXIT_USAGE. */
void die_usage(const char *fmt, ...) CHATAI_PRINTF(1, 2) __attribute__((noreturn));
void errorf(const char *fmt, ...) CHATAI_PRINTF(1, 2);
/* A libpq message without its trailing newline (static buffer). */
const char *pq_msg(const char *m);

struct opt {
	const char *name; /* "--role" */
	int takes_value;
	const char **value;  /* last value (single options) */
	const char ***multi; /* all values (repeatable options), NULL-terminated */
	size_t nmulti;
};

/* Split argv into known options and positionals (at most maxpos). Exits on misuse. */
int parse_args(int argc, char **argv, struct opt *opts, const char **pos, int maxpos);

/* The database of the settings, or NULL (reason printed). */
PGconn *ctl_connect(void);
/* Run a statement; on failure print what and why and return NULL. */
PGresult *run(PGconn *c, const char *what, const char *sql, int n, const char *const *params);
int run_cmd(PGconn *c, const char *what, const char *sql);
int sqlstate_is(PGresult *r, const char *state);
/* Read a whole file (at most max bytes) as a NUL-terminated buffer. "-" is stdin. */
char *read_file(const char *path, size_t max, size_t *len);

/* admin.c: operators, assistants, knowledge. */
int cmd_operator(int argc, char **argv);
int cmd_assistant(int argc, char **argv);
int cmd_knowledge(int argc, char **argv);

#endif
