/* SPDX-License-Identifier: MIT */
/*
 * metrics: counters of the daemon and their two renderings, /metrics (Prometheus text
 * format 0.0.4) and /health (JSON). One global struct, written only from the loop.
 *
 * Latency: notify_to_send measures from the moment a notification was read off the
 * LISTEN socket (before JSON parsing) to the moment the writev() that carried the
 * event's last byte to a subscriber's socket returned. Replayed rows are not counted
 * (their source is a query, not a notification). It does not include PostgreSQL's own
 * commit-to-NOTIFY delay nor the time in the kernel and the network after writev().
 */
#ifndef CHATAI_METRICS_H
#define CHATAI_METRICS_H

#include <stdint.h>

#define METRICS_BUCKETS 14

struct metrics {
	uint64_t conns_ws, conns_sse, conns_http; /* open now, by transport */
	uint64_t accepted_total;
	uint64_t refused_per_ip_total;
	uint64_t notifications_total;       /* payloads read from LISTEN */
	uint64_t notifications_bad_total;   /* unparsable payloads */
	uint64_t events_out_total;          /* events queued to subscribers */
	uint64_t replays_total;             /* replay queries run */
	uint64_t replayed_rows_total;       /* rows delivered by replays */
	uint64_t slow_dropped_total;        /* connections closed for not reading */
	uint64_t auth_refused_total;
	uint64_t client_msgs_total;         /* text messages received from WS clients */
	uint64_t lat_count;
	double lat_sum;                     /* seconds */
	uint64_t lat_buckets[METRICS_BUCKETS]; /* cumulative at render time, raw here */
	double start_time;                  /* wall clock at start */
};

extern struct metrics metrics;
extern const double metrics_bucket_bounds[METRICS_BUCKETS]; /* seconds; last is +Inf */

void metrics_init(void);
void metrics_latency(int64_t micros);
/* Freshly allocated texts (caller frees). */
char *metrics_render(int listen_up, int query_up, uint64_t chans, uint64_t queue_len,
                     uint64_t reconnects);
char *metrics_health(int listen_up, int query_up, const char *redis);

#endif
