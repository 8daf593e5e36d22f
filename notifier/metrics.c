/* SPDX-License-Identifier: MIT */
/* metrics: counters, Prometheus text and health JSON (see metrics.h). */
#include "autoconfig.h"
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "mailstate.h"
#include "util.h"

struct metrics metrics;

const double metrics_bucket_bounds[METRICS_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, INFINITY,
};

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void metrics_init(void)
{
	memset(&metrics, 0, sizeof(metrics));
	metrics.start_time = wall_now();
}

void metrics_latency(int64_t micros)
{
	double s = micros / 1e6;
	metrics.lat_count++;
	metrics.lat_sum += s;
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		if (s <= metrics_bucket_bounds[i]) {
			metrics.lat_buckets[i]++;
			break;
		}
	}
}

char *metrics_render(int listen_up, int query_up, uint64_t chans, uint64_t queue_len, uint64_t reconnects)
{
	struct buf b = { 0 };
	buf_printf(&b, "# HELP chatai_notifier_connections Open connections by transport.\n"
	              "# TYPE chatai_notifier_connections gauge\n"
	              "chatai_notifier_connections{transport=\"websocket\"} %llu\n"
	              "chatai_notifier_connections{transport=\"sse\"} %llu\n"
	              "chatai_notifier_connections{transport=\"http\"} %llu\n",
	          (unsigned long long)metrics.conns_ws, (unsigned long long)metrics.conns_sse,
	          (unsigned long long)metrics.conns_http);
#define COUNTER(name, help, v) \
	buf_printf(&b, "# HELP chatai_notifier_" name " " help "\n# TYPE chatai_notifier_" name " counter\n" \
	              "chatai_notifier_" name " %llu\n", (unsigned long long)(v))
	COUNTER("accepted_total", "Connections accepted.", metrics.accepted_total);
	COUNTER("refused_per_ip_total", "Connections refused by the per-address cap.", metrics.refused_per_ip_total);
	COUNTER("events_in_total", "Notifications read from PostgreSQL.", metrics.notifications_total);
	COUNTER("events_in_bad_total", "Notifications that could not be parsed.", metrics.notifications_bad_total);
	COUNTER("events_out_total", "Events queued to subscribers.", metrics.events_out_total);
	COUNTER("replays_total", "Replay queries run.", metrics.replays_total);
	COUNTER("replayed_messages_total", "Messages delivered by replays.", metrics.replayed_rows_total);
	COUNTER("slow_clients_dropped_total", "Connections closed for not reading their stream.", metrics.slow_dropped_total);
	COUNTER("auth_refused_total", "Stream requests refused by authentication.", metrics.auth_refused_total);
	COUNTER("client_messages_total", "Text messages received from WebSocket clients.", metrics.client_msgs_total);
	COUNTER("db_reconnects_total", "Reconnection attempts to PostgreSQL.", reconnects);
#undef COUNTER
	buf_printf(&b, "# HELP chatai_notifier_db_up Database links up (1) or down (0).\n"
	              "# TYPE chatai_notifier_db_up gauge\n"
	              "chatai_notifier_db_up{link=\"listen\"} %d\nchatai_notifier_db_up{link=\"query\"} %d\n",
	          listen_up, query_up);
	buf_printf(&b, "# HELP chatai_notifier_channels Dialog channels with subscribers.\n"
	              "# TYPE chatai_notifier_channels gauge\nchatai_notifier_channels %llu\n",
	          (unsigned long long)chans);
	buf_printf(&b, "# HELP chatai_notifier_query_queue Queries waiting for the query link.\n"
	              "# TYPE chatai_notifier_query_queue gauge\nchatai_notifier_query_queue %llu\n",
	          (unsigned long long)queue_len);
	buf_printf(&b, "# HELP chatai_notifier_notify_to_send_seconds From reading a notification off the "
	              "LISTEN socket to the writev() that sent it to a subscriber.\n"
	              "# TYPE chatai_notifier_notify_to_send_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		cum += metrics.lat_buckets[i];
		if (isinf(metrics_bucket_bounds[i]))
			buf_printf(&b, "chatai_notifier_notify_to_send_seconds_bucket{le=\"+Inf\"} %llu\n",
			          (unsigned long long)cum);
		else
			buf_printf(&b, "chatai_notifier_notify_to_send_seconds_bucket{le=\"%g\"} %llu\n",
			          metrics_bucket_bounds[i], (unsigned long long)cum);
	}
	buf_printf(&b, "chatai_notifier_notify_to_send_seconds_sum %.6f\n"
	              "chatai_notifier_notify_to_send_seconds_count %llu\n",
	          metrics.lat_sum, (unsigned long long)metrics.lat_count);
	char *mail = mailstate_metrics();
	buf_adds(&b, mail);
	free(mail);
	return b.p;
}

char *metrics_health(int listen_up, int query_up, const char *redis)
{
	char *mail = mailstate_json();
	char *out = xasprintf("{\"status\":\"%s\",\"database\":{\"listen\":\"%s\",\"query\":\"%s\"},\"redis\":\"%s\","
	                 "\"connections\":{\"websocket\":%llu,\"sse\":%llu,\"http\":%llu},"
	                 "\"uptime_seconds\":%.0f,\"mail\":%s}",
	                 listen_up && query_up ? "ok" : "degraded", listen_up ? "up" : "down",
	                 query_up ? "up" : "down", redis, (unsigned long long)metrics.conns_ws,
	                 (unsigned long long)metrics.conns_sse, (unsigned long long)metrics.conns_http,
	                 wall_now() - metrics.start_time, mail);
	free(mail);
	return out;
}
