/* SPDX-License-Identifier: MIT */
/* appcfg: app_cfg, read from the configuration with the defaults and bounds of
 * common/settings.def. */
#include "autoconfig.h"
#include "appcfg.h"
#include "settings.h"

struct app_settings app_cfg;

/* Every key here is SP_FALLBACK: a bad value is corrected with a warning and never stops
 * the process. */
void app_settings_load(void)
{
	static const struct {
		enum setting_id id;
		int64_t *v;
	} keys[] = {
		{ SET_token_ttl, &app_cfg.token_ttl },
		{ SET_rate_limit_dialogs, &app_cfg.rl_dialogs },
		{ SET_rate_limit_messages, &app_cfg.rl_messages },
		{ SET_rate_limit_typing, &app_cfg.rl_typing },
		{ SET_rate_limit_login, &app_cfg.rl_login },
		{ SET_rate_limit_reads, &app_cfg.rl_reads },
		{ SET_longpoll_max_wait, &app_cfg.longpoll_max_wait },
		{ SET_fcgi_longpoll_max, &app_cfg.longpoll_max },
		{ SET_fcgi_longpoll_max_per_ip, &app_cfg.longpoll_max_per_ip },
		{ SET_auth_cache_ttl, &app_cfg.auth_cache_ttl },
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		(void)settings_int(keys[i].id, keys[i].v);
	app_cfg.mail_on = settings_str(SET_smtp_url) != NULL;
}
