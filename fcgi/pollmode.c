/* SPDX-License-Identifier: MIT */
/* pollmode: long-poll or short poll (see pollmode.h). */
#include "autoconfig.h"
#include "pollmode.h"
#include "request.h"
#include "appcfg.h"
#include "config.h"
#include "settings.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

enum { PM_AUTO = 0, PM_LONG, PM_SHORT };
static int mode = PM_AUTO;
static int run_cgi;      /* one request per process */
static int run_external; /* --listen: a threaded pool */

static int parse_mode(const char *v)
{
	if (!v || !*v || strcmp(v, "auto") == 0)
		return PM_AUTO;
	if (strcmp(v, "long") == 0)
		return PM_LONG;
	if (strcmp(v, "short") == 0)
		return PM_SHORT;
	return -1;
}

int pollmode_init(int is_cgi, int external)
{
	run_cgi = is_cgi;
	run_external = external;
	const char *v = settings_str(SET_fcgi_poll_mode);
	int m = parse_mode(v);
	if (m < 0) {
		log_error("setting fcgi_poll_mode = %s: expected auto, long or short (using auto)", v);
		mode = PM_AUTO;
		return -1;
	}
	mode = m;
	return 0;
}

int pollmode_short(struct req *r)
{
	int m = mode;
	const char *v = r && r->transport ? transport_param(r->transport, "CHATAI_FCGI_POLL_MODE") : NULL;
	int per_request = v ? parse_mode(v) : -1;
	if (per_request > PM_AUTO)
		m = per_request;
	if (m != PM_AUTO)
		return m == PM_SHORT;
	if (run_cgi)
		return 1;
	if (run_external)
		return 0;
	/* An inherited socket: Apache spawns such workers only through mod_fcgid. */
	const char *sw = r && r->transport ? transport_param(r->transport, "SERVER_SOFTWARE") : NULL;
	return sw && strncmp(sw, "Apache", 6) == 0;
}

void pollmode_header(struct req *r)
{
	pollmode_header_as(r, pollmode_short(r));
}

void pollmode_header_as(struct req *r, int is_short)
{
	char v[96];
	if (is_short)
		snprintf(v, sizeof v, "short; active=%d; idle=%d", POLL_ACTIVE_MS, POLL_IDLE_MS);
	else
		snprintf(v, sizeof v, "long; wait=%lld", (long long)app_cfg.longpoll_max_wait);
	http_header(r, "X-Chatai-Poll", v);
	if (r->cors_origin)
		http_header(r, "Access-Control-Expose-Headers", "X-Chatai-Poll");
}

cJSON *pollmode_json(struct req *r)
{
	cJSON *o = cJSON_CreateObject();
	if (pollmode_short(r)) {
		cJSON_AddStringToObject(o, "mode", "short");
		cJSON_AddNumberToObject(o, "active_ms", POLL_ACTIVE_MS);
		cJSON_AddNumberToObject(o, "idle_ms", POLL_IDLE_MS);
	} else {
		cJSON_AddStringToObject(o, "mode", "long");
		cJSON_AddNumberToObject(o, "wait_s", (double)app_cfg.longpoll_max_wait);
	}
	return o;
}
