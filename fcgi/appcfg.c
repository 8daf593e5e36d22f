/* SPDX-License-Identifier: MIT */
/* appcfg: app_cfg, read from the configuration with its defaults and bounds. */
#include "autoconfig.h"
#include "appcfg.h"
#include "config.h"

struct app_settings app_cfg;

void app_settings_load(void)
{
	app_cfg.token_ttl = config_get_int("token_ttl", 604800);
	app_cfg.rl_dialogs = config_get_int("rate_limit_dialogs", 20);
	app_cfg.rl_messages = config_get_int("rate_limit_messages", 60);
	app_cfg.rl_typing = config_get_int("rate_limit_typing", 120);
	app_cfg.rl_login = config_get_int("rate_limit_login", 20);
	app_cfg.rl_reads = config_get_int("rate_limit_reads", 1200);
	app_cfg.longpoll_max_wait = config_get_int("longpoll_max_wait", 30);
	app_cfg.longpoll_max = config_get_int("fcgi_longpoll_max", 1000);
	app_cfg.longpoll_max_per_ip = config_get_int("fcgi_longpoll_max_per_ip", 200);
	app_cfg.auth_cache_ttl = config_get_int("auth_cache_ttl", 10);
	app_cfg.mail_on = config_get("smtp_url", NULL) != NULL;
	if (app_cfg.token_ttl < 60)
		app_cfg.token_ttl = 60;
	if (app_cfg.longpoll_max_wait < 0)
		app_cfg.longpoll_max_wait = 0;
	if (app_cfg.longpoll_max_wait > 300)
		app_cfg.longpoll_max_wait = 300;
	if (app_cfg.longpoll_max < 0)
		app_cfg.longpoll_max = 0;
	if (app_cfg.longpoll_max_per_ip < 0)
		app_cfg.longpoll_max_per_ip = 0;
	if (app_cfg.auth_cache_ttl < 0)
		app_cfg.auth_cache_ttl = 0;
	if (app_cfg.auth_cache_ttl > 300)
		app_cfg.auth_cache_ttl = 300;
}
