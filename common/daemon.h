/* SPDX-License-Identifier: MIT */
/*
 * daemon: what chatai.fcgi, chatai-notifier and chatai-ai do first, in one place: the
 * command line (--config FILE and each program's own options), the configuration, the
 * log, cJSON, database_url, SIGPIPE and the open-files limit.
 */
#ifndef CHATAI_DAEMON_H
#define CHATAI_DAEMON_H

/* One option of a program's command line. A table of them ends with a zeroed entry. */
struct daemon_opt {
	const char *name;   /* "--config" */
	const char **value; /* "--name VALUE": VALUE is stored here (NULL: a flag) */
	int *flag;          /* a flag "--name": set to 1 */
};

/* daemon_args()'s answer when the program goes on (any other is its exit status). */
#define DAEMON_RUN (-1)

/*
 * Read argv against opts. DAEMON_RUN to go on; else the exit status: 0 after --help or -h
 * (usage on stdout), 2 after anything else (usage on stderr). usage: the line "usage: ...".
 */
int daemon_args(int argc, char **argv, const struct daemon_opt *opts, const char *usage);

/*
 * Read the configuration file (NULL: the default one), open the log as prog and set up
 * cJSON: the setting database_url, or NULL when it cannot start (said on stderr when
 * there is no log yet, else in the log).
 */
const char *daemon_setup(const char *prog, const char *config_file);

/* A daemon's process limits: SIGPIPE ignored (a peer gone is an error return), and the
 * open-files limit raised to the hard limit (the soft one is often 1024). */
void daemon_limits(void);

#endif
