/* SPDX-License-Identifier: MIT */
/* log: leveled logging to stderr or syslog. */
#include "autoconfig.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static struct {
	char ident[32];
	int use_syslog;
	enum log_level level;
} L = { "chatai", 0, LOG_LVL_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static enum log_level parse_level(const char *s)
{
	if (!s)
		return LOG_LVL_INFO;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (enum log_level)i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	return LOG_LVL_INFO;
}

void log_init(const char *ident, const char *target, const char *level)
{
	snprintf(L.ident, sizeof L.ident, "%s", ident ? ident : "chatai");
	L.level = parse_level(level);
	L.use_syslog = target && strcasecmp(target, "syslog") == 0;
	if (L.use_syslog)
		openlog(L.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_enabled(enum log_level lvl)
{
	return lvl >= L.level;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl < L.level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One line per record: a visitor-controlled value must not forge log lines. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (L.use_syslog) {
		static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
		syslog(prio[lvl], "%s", msg);
		return;
	}
	char line[2200];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, L.ident, (int)getpid(), level_names[lvl], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void log_redact(const char *src, char *dst, size_t dstlen)
{
	static const char *const secrets[] = { "token=", "visitor_token=", "ticket=", "password=", "key=", NULL };
	size_t o = 0;
	if (dstlen == 0)
		return;
	for (size_t i = 0; src[i] && o + 1 < dstlen;) {
		int masked = 0;
		/* A secret name starts the string or follows '?', '&' or ';'. */
		if (i == 0 || src[i - 1] == '?' || src[i - 1] == '&' || src[i - 1] == ';') {
			for (int k = 0; secrets[k]; k++) {
				size_t sl = strlen(secrets[k]);
				if (strncmp(src + i, secrets[k], sl) == 0) {
					for (size_t j = 0; j < sl && o + 1 < dstlen; j++)
						dst[o++] = src[i + j];
					for (const char *m = "***"; *m && o + 1 < dstlen; m++)
						dst[o++] = *m;
					i += sl;
					while (src[i] && src[i] != '&' && src[i] != ';' && src[i] != ' ')
						i++;
					masked = 1;
					break;
				}
			}
		}
		if (!masked)
			dst[o++] = src[i++];
	}
	dst[o] = '\0';
}
