/* SPDX-License-Identifier: MIT */
/* daemon: the start of every daemon (daemon.h). */
#include "autoconfig.h"
#include "daemon.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

int daemon_args(int argc, char **argv, const struct daemon_opt *opts, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s\n", usage);
			return 0;
		}
		const struct daemon_opt *o = opts;
		while (o->name && strcmp(o->name, argv[i]) != 0)
			o++;
		if (o->name && !o->value) {
			*o->flag = 1;
		} else if (o->name && i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			fprintf(stderr, "%s\n", usage);
			return 2;
		}
	}
	return DAEMON_RUN;
}

const char *daemon_setup(const char *prog, const char *config_file)
{
	const char *err = NULL;
	if (config_load(config_file, &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err ? err : "cannot read the configuration");
		return NULL;
	}
	log_init(prog, settings_str(SET_log_target), settings_str(SET_log_level));
	json_init();
	const char *url = config_get("database_url", NULL);
	if (!url)
		log_error("database_url is not set (CHATAI_DATABASE_URL or the configuration file)");
	return url;
}

void daemon_limits(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open-files limit: %s", strerror(errno));
	}
}
