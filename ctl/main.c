/* SPDX-License-Identifier: MIT */
/*
 * chatai-ctl: the sysadmin's tool. Applies the database migrations, manages operators,
 * adds assistants, imports a knowledge base (ctl/admin.c) and checks an installation.
 *
 *   chatai-ctl [--config FILE] migrate [--sql-dir DIR]
 *   chatai-ctl [--config FILE] operator add EMAIL NAME [--role admin|operator]  (password on stdin)
 *   chatai-ctl [--config FILE] operator list | disable OPERATOR | enable OPERATOR | passwd OPERATOR
 *   chatai-ctl [--config FILE] assistant add NAME [--greeting TEXT] [--origin ORIGIN]...
 *   chatai-ctl [--config FILE] knowledge import [--replace-all] ASSISTANT_ID FILE
 *   chatai-ctl [--config FILE] check [--sql-dir DIR] [--web-dir DIR] [--list-keys]
 *   chatai-ctl [--config FILE] mail --once | --status
 *
 * Exit status: 0 success, 1 failure (database, bad input, failed check), 2 usage error.
 * Everything a user typed reaches SQL as a bound parameter. Each command lives in its own
 * file (ctl.h); a new one is a file and a line in the table below.
 */
#include "autoconfig.h"
#include "check_url.h"
#include "config.h"
#include "ctl.h"
#include "json.h"
#include "log.h"
#include "mail.h"
#include "settings.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] =
	"Usage: chatai-ctl [--config FILE] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  migrate [--sql-dir DIR]             apply the pending sql/NNN_*.sql migrations\n"
	"  operator add EMAIL NAME [--role admin|operator]\n"
	"                                      add an operator; the password is read from stdin\n"
	"  operator list                       list the operators (role, state, last seen)\n"
	"  operator disable|enable OPERATOR    disable (every session ends at once) or enable an\n"
	"                                      operator, given by id or email; the last active\n"
	"                                      admin cannot be disabled\n"
	"  operator passwd OPERATOR            set a new password, read from stdin\n"
	"  assistant add NAME [--greeting TEXT] [--origin ORIGIN]...\n"
	"                                      add an assistant and print its id\n"
	"  knowledge import [--replace-all] ASSISTANT_ID FILE\n"
	"                                      import question/answer pairs (CSV with header\n"
	"                                      question,answer, or a JSON array); all or nothing;\n"
	"                                      the same question replaces its answer;\n"
	"                                      --replace-all swaps the whole set at once\n"
	"  check [--sql-dir DIR] [--web-dir DIR] [--list-keys]\n"
	"                                      check settings (unknown keys, values, file mode),\n"
	"                                      web files, the notifier's /health, database and\n"
	"                                      schema version; --list-keys prints the known keys\n"
	"  mail --once | --status              send the mails that are due (for cron), or show\n"
	"                                      the mail queue, last success and last error\n"
	"  check --url URL [--assistant ID] [--origin ORIGIN]\n"
	"                                      check a live install from outside: API, settings,\n"
	"                                      long-poll or short-poll, SSE, WebSocket\n"
	"\n"
	"Options:\n"
	"  --config FILE   settings file (default $CHATAI_CONFIG, else " CHATAI_SYSCONFDIR "/chatai.conf)\n"
	"  -h, --help      show this help\n"
	"  --version       show the version\n"
	"\n"
	"Settings come from the file and from CHATAI_* environment variables (database_url is\n"
	"CHATAI_DATABASE_URL). Migrations are found in --sql-dir, else $CHATAI_SQL_DIR, else\n"
	"" CHATAI_DATADIR "/sql; web files (check) in --web-dir, else $CHATAI_WEB_DIR, else\n"
	"" CHATAI_DATADIR "/web.\n"
	"Exit status: 0 success, 1 failure, 2 usage error. See chatai-ctl(8).\n";

/* The commands: name and entry point, one line each (a new command: its file and a line). */
/* clang-format off */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "migrate", cmd_migrate },
	{ "operator", cmd_operator },
	{ "assistant", cmd_assistant },
	{ "knowledge", cmd_knowledge },
	{ "check", cmd_check },
	{ "mail", ctl_mail_main },
};
/* clang-format on */

/* The options before the command: --config FILE (into *config_file), --help, --version.
 * The index of the command, or -1 when main should exit 0 now. */
static int global_options(int argc, char **argv, const char **config_file)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return -1;
		}
		if (!strcmp(a, "--version")) {
			printf("chatai-ctl %s\n", PACKAGE_VERSION);
			return -1;
		}
		if (!strcmp(a, "--config")) {
			if (i + 1 >= argc)
				die_usage("option --config needs a value");
			*config_file = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			*config_file = a + 9;
		} else {
			die_usage("unknown option %s", a);
		}
	}
	if (i >= argc)
		die_usage("no command given");
	return i;
}

int main(int argc, char **argv)
{
	const char *config_file = NULL, *err = NULL;
	int i = global_options(argc, argv, &config_file);
	if (i < 0)
		return 0;
	const char *cmd = argv[i];
	int sub_argc = argc - i - 1;
	char **sub_argv = argv + i + 1;
	if (!strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	/* check --url: a live install from outside; no settings file needed (check_url.c) */
	if (!strcmp(cmd, "check") && check_url_wanted(sub_argc, sub_argv))
		return check_url_main(sub_argc, sub_argv);
	const struct command *c = NULL;
	for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
		if (!strcmp(cmd, commands[k].name))
			c = &commands[k];
	if (!c)
		die_usage("unknown command '%s'", cmd);

	json_init();
	if (config_load(config_file, &err) < 0) {
		if (!strcmp(cmd, "check")) {
			printf("FAIL settings: %s\n", err);
			return EXIT_FAIL;
		}
		errorf("settings: %s", err);
		return EXIT_FAIL;
	}
	log_init("chatai-ctl", "stderr", settings_str(SET_log_level));
	int rc = c->run(sub_argc, sub_argv);
	config_free();
	return rc;
}
