/* SPDX-License-Identifier: MIT */
/*
 * ctl: what chatai-ctl's files share. Each command has one entry point,
 * int cmd_NAME(argc, argv), listed in main.c's command table (a new command: its file and
 * one line there). A command returns 0, EXIT_FAIL after printing why, or exits with
 * EXIT_USAGE through die_usage(). cli.c holds the helpers below.
 */
#ifndef CHATAI_CTL_H
#define CHATAI_CTL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "util.h"

#ifndef CHATAI_DATADIR
#define CHATAI_DATADIR "/usr/local/share/chatai"
#endif

#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Largest knowledge file read (bytes). */
#define KB_FILE_MAX (64 * 1024 * 1024)

/* The commands (argv: the words after the command's name). */
int cmd_migrate(int argc, char **argv);   /* migrate.c */
int cmd_operator(int argc, char **argv);  /* admin.c: operators, assistants, knowledge */
int cmd_assistant(int argc, char **argv);
int cmd_knowledge(int argc, char **argv);
int cmd_check(int argc, char **argv);     /* check_host.c (check --url: check_url.c) */
/* mail.c: ctl_mail_main (mail.h) */

/* "chatai-ctl: ..." and the --help hint on stderr, then exit(EXIT_USAGE). */
void die_usage(const char *fmt, ...) CHATAI_PRINTF(1, 2) __attribute__((noreturn));
/* "chatai-ctl: ..." on stderr. */
void errorf(const char *fmt, ...) CHATAI_PRINTF(1, 2);
/* A directory given by flag (--sql-dir DIR), else by the environment variable env, else def. */
const char *data_dir(const char *flag, const char *env, const char *def);
/* A libpq message without its trailing newline (static storage: use it at once). */
const char *pq_msg(const char *m);

/* ---- arguments: options may come before, between or after positionals ---- */
struct opt {
	const char *name; /* "--role" */
	int takes_value;
	const char **value;  /* last value (single options) */
	const char ***multi; /* all values (repeatable options), NULL-terminated */
	size_t nmulti;
};

/* Split argv into known options (opts, ended by a NULL name; NULL: none) and positionals
 * (at most maxpos, into pos). The number of positionals; exits on misuse. */
int parse_args(int argc, char **argv, struct opt *opts, const char **pos, int maxpos);

/* ---- database ---- */
/* A connection for database_url, or NULL after saying why. */
PGconn *ctl_connect(void);
/* Run a statement; on failure print what and why and return NULL. */
PGresult *run(PGconn *c, const char *what, const char *sql, int n, const char *const *params);
/* run() for a statement without rows: 0 or -1. */
int run_cmd(PGconn *c, const char *what, const char *sql);
/* 1 when r failed with SQLSTATE state. */
int sqlstate_is(PGresult *r, const char *state);

/* A whole file (at most max bytes; "-" is stdin) as a NUL-terminated buffer the caller
 * frees, or NULL after saying why. */
char *read_file(const char *path, size_t max, size_t *len);

#endif
