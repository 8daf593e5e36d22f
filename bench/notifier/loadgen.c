/* SPDX-License-Identifier: MIT */
/*
 * loadgen: load generator for chatai-notifier (libev, one thread for the sockets plus one
 * publisher thread on libpq).
 *
 * It prepares its own data in PostgreSQL (an assistant, an operator session, D dialogs),
 * opens W WebSocket and S SSE subscribers spread round-robin over the D dialogs (binding
 * source addresses round-robin from --src, e.g. 127.0.0.1,127.0.0.2, to get past the
 * ~28k ephemeral ports per destination), and reports:
 *   - connections held (handshakes completed);
 *   - the notifier's resident memory per connection: VmRSS of --pid after the
 *     subscribers are connected and idle, minus VmRSS before, divided by the count;
 *   - then publishes M messages with chatai_post_message() at R per second over the
 *     dialogs; each message's text carries the monotonic send time, so every receipt
 *     gives a NOTIFY-to-receive latency (send-call to parsed-on-the-client, which
 *     includes the INSERT/commit and this process's own parsing);
 *   - deliveries per second, latency p50/p99/max, and per message the time until the
 *     last subscriber had it (fan-out completion).
 *
 * usage: loadgen --db URL --port P [--host 127.0.0.1] [--pid NOTIFIER_PID] [--ws W]
 *                [--sse S] [--dialogs D] [--messages M] [--rate R] [--src A,B,...]
 *                [--settle SECONDS] [--hold SECONDS] [--publishers N (threads, 1..16)]
 *                [--collect-ms MS (default 1; 0: wake on every readiness)]
 * It prints KEY=value lines (and a human summary on stderr).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { K_WS = 0, K_SSE = 1 };
enum { S_CONNECTING = 0, S_HANDSHAKE, S_OPEN, S_DEAD };

struct sub {
	int fd;
	uint8_t kind, state;
	uint32_t dialog_idx;
	ev_io io;
	char *buf; /* input being parsed */
	size_t len, cap;
};

static struct ev_loop *loop;
static struct sub *subs;
static int nsubs, nopen, ndead, next_to_open, nconnecting;
static const char *host = "127.0.0.1";
static int port;
static char token[64];
static int64_t *dialog_ids;
static char (*visitor_tokens)[64];
static int ndialogs = 1;
static struct in_addr srcs[16];
static int nsrcs;
static int64_t assistant_id;

/* Latencies (microseconds), one per delivery. */
static int64_t *lat;
static size_t nlat, caplat;
static int64_t *msg_last_us, *msg_sent_us; /* per message: last receipt, send time */
static int *msg_count;
static int nmessages = 20, rate = 100;
static volatile int published;
static int64_t first_send_us, last_recv_us, pub_end_us;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long rss_kb(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void die(const char *what, PGconn *pg)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, pg ? PQerrorMessage(pg) : strerror(errno));
	exit(1);
}

static char *sql1(PGconn *pg, const char *q, int n, const char *const *p)
{
	PGresult *r = PQexecParams(pg, q, n, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die(q, pg);
	char *v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void hexhash(const char *s, char out[65])
{
	unsigned char md[32];
	SHA256((const unsigned char *)s, strlen(s), md);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void random_token(char out[44])
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[43];
	RAND_bytes(r, sizeof(r));
	for (int i = 0; i < 43; i++)
		out[i] = a[r[i] & 63];
	out[43] = 0;
}

static void setup_db(const char *url)
{
	PGconn *pg = PQconnectdb(url);
	if (PQstatus(pg) != CONNECTION_OK)
		die("connect", pg);
	char *aid = sql1(pg, "INSERT INTO assistants (name) VALUES ('loadgen') RETURNING id", 0, NULL);
	assistant_id = atoll(aid);
	char email[64], tok_hash[65];
	snprintf(email, sizeof(email), "loadgen-%ld-%d@bench.example", (long)time(NULL), getpid());
	const char *p1[1] = { email };
	char *oid = sql1(pg, "INSERT INTO operators (email, name, role, password_hash) VALUES ($1, 'Load', 'operator', 'x') RETURNING id", 1, p1);
	random_token(token);
	hexhash(token, tok_hash);
	const char *p2[2] = { oid, tok_hash };
	free(sql1(pg, "INSERT INTO sessions (operator_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '1 day') RETURNING id", 2, p2));
	dialog_ids = calloc((size_t)ndialogs, sizeof(*dialog_ids));
	visitor_tokens = calloc((size_t)ndialogs, sizeof(*visitor_tokens));
	for (int i = 0; i < ndialogs; i++) {
		char vh[65];
		random_token(visitor_tokens[i]);
		hexhash(visitor_tokens[i], vh);
		const char *p3[2] = { aid, vh };
		char *d = sql1(pg, "INSERT INTO dialogs (assistant_id, visitor_token_hash) VALUES ($1, $2) RETURNING id", 2, p3);
		dialog_ids[i] = atoll(d);
		free(d);
	}
	free(aid);
	free(oid);
	PQfinish(pg);
}

static void record(const char *p, size_t n, int64_t t)
{
	/* Text looks like "lg t=<send us> k=<index>". */
	const char *m = memmem(p, n, "lg t=", 5);
	if (!m)
		return;
	long long sent = 0, k = -1;
	if (sscanf(m, "lg t=%lld k=%lld", &sent, &k) != 2 || k < 0 || k >= nmessages)
		return;
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof(*lat));
	}
	lat[nlat++] = t - sent;
	msg_count[k]++;
	if (t > msg_last_us[k])
		msg_last_us[k] = t;
	if (t > last_recv_us)
		last_recv_us = t;
}

static void sub_close(struct sub *s)
{
	if (s->state == S_DEAD)
		return;
	if (s->state == S_OPEN)
		nopen--;
	if (s->state == S_CONNECTING || s->state == S_HANDSHAKE)
		nconnecting--;
	ev_io_stop(loop, &s->io);
	close(s->fd);
	s->state = S_DEAD;
	ndead++;
}

/* Parse what is buffered; returns bytes consumed. */
static size_t parse(struct sub *s, int64_t t)
{
	char *b = s->buf;
	size_t n = s->len, off = 0;
	if (s->state == S_HANDSHAKE) {
		char *e = memmem(b, n, "\r\n\r\n", 4);
		if (!e)
			return 0;
		int ok = (s->kind == K_WS && strncmp(b, "HTTP/1.1 101", 12) == 0) ||
		         (s->kind == K_SSE && strncmp(b, "HTTP/1.1 200", 12) == 0);
		if (!ok) {
			fprintf(stderr, "loadgen: refused: %.40s\n", b);
			sub_close(s);
			return n;
		}
		s->state = S_OPEN;
		nconnecting--;
		nopen++;
		off = (size_t)(e + 4 - b);
	}
	if (s->kind == K_WS) {
		while (n - off >= 2) {
			uint8_t b0 = (uint8_t)b[off], b1 = (uint8_t)b[off + 1];
			uint64_t len = b1 & 0x7f;
			size_t h = 2;
			if (len == 126) {
				if (n - off < 4)
					break;
				len = ((uint64_t)(uint8_t)b[off + 2] << 8) | (uint8_t)b[off + 3];
				h = 4;
			} else if (len == 127) {
				if (n - off < 10)
					break;
				len = 0;
				for (int i = 0; i < 8; i++)
					len = (len << 8) | (uint8_t)b[off + 2 + i];
				h = 10;
			}
			if (n - off < h + len)
				break;
			int op = b0 & 0x0f;
			if (op == 1)
				record(b + off + h, (size_t)len, t);
			else if (op == 9) {
				/* pong, masked with a zero key */
				uint8_t pong[6 + 125] = { 0x8a, (uint8_t)(0x80 | len), 0, 0, 0, 0 };
				memcpy(pong + 6, b + off + h, (size_t)len);
				if (write(s->fd, pong, 6 + (size_t)len) < 0)
					sub_close(s);
			} else if (op == 8) {
				sub_close(s);
				return n;
			}
			off += h + (size_t)len;
		}
	} else {
		for (;;) {
			char *e = memmem(b + off, n - off, "\n\n", 2);
			if (!e)
				break;
			record(b + off, (size_t)(e - (b + off)), t);
			off = (size_t)(e + 2 - b);
		}
	}
	return off;
}

static void read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct sub *s = w->data;
	if (s->state == S_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
			sub_close(s);
			return;
		}
		char req[512];
		int n;
		int64_t did = dialog_ids[s->dialog_idx];
		if (s->kind == K_WS)
			n = snprintf(req, sizeof(req), "GET /ws/dialogs/%lld?token=%s HTTP/1.1\r\nHost: %s\r\n"
			             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
			             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", (long long)did, token, host);
		else
			n = snprintf(req, sizeof(req), "GET /sse/widget/dialogs/%lld?assistant_id=%lld&visitor_token=%s HTTP/1.1\r\n"
			             "Host: %s\r\nAccept: text/event-stream\r\n\r\n", (long long)did,
			             (long long)assistant_id, visitor_tokens[s->dialog_idx], host);
		if (write(s->fd, req, (size_t)n) != n) {
			sub_close(s);
			return;
		}
		s->state = S_HANDSHAKE;
		ev_io_stop(loop, &s->io);
		ev_io_set(&s->io, s->fd, EV_READ);
		ev_io_start(loop, &s->io);
		return;
	}
	int64_t t = now_us();
	for (;;) {
		if (s->cap - s->len < 4096) {
			s->cap = s->cap ? s->cap * 2 : 8192;
			s->buf = realloc(s->buf, s->cap);
		}
		ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
		if (r < 0) {
			if (errno == EAGAIN)
				break;
			sub_close(s);
			return;
		}
		if (r == 0) {
			sub_close(s);
			return;
		}
		s->len += (size_t)r;
		size_t used = parse(s, t);
		if (s->state == S_DEAD)
			return;
		memmove(s->buf, s->buf + used, s->len - used);
		s->len -= used;
	}
	if (s->len == 0 && s->cap > 8192) {
		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
}

static void open_more(void)
{
	while (next_to_open < nsubs && nconnecting < 256) {
		struct sub *s = &subs[next_to_open];
		int i = next_to_open++;
		s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (s->fd < 0) {
			fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
			s->state = S_DEAD;
			ndead++;
			continue;
		}
		if (nsrcs) {
			struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = srcs[i % nsrcs] };
			int one = 1;
			setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
				fprintf(stderr, "loadgen: bind: %s\n", strerror(errno));
				close(s->fd);
				s->state = S_DEAD;
				ndead++;
				continue;
			}
		}
		struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, host, &dst.sin_addr);
		if (connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS) {
			fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
			close(s->fd);
			s->state = S_DEAD;
			ndead++;
			continue;
		}
		s->state = S_CONNECTING;
		nconnecting++;
		ev_io_init(&s->io, read_cb, s->fd, EV_WRITE);
		s->io.data = s;
		ev_io_start(loop, &s->io);
	}
}

static void tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	open_more();
	if (next_to_open >= nsubs && nconnecting == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void stop_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

struct pub_args {
	const char *url;
	int id, n;          /* this thread publishes messages k with k % n == id */
	int64_t start;
};
static int npublishers = 1;
static volatile int publishers_done;
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;

static void *publisher(void *arg)
{
	struct pub_args *a = arg;
	PGconn *pg = PQconnectdb(a->url);
	if (PQstatus(pg) != CONNECTION_OK)
		die("publisher connect", pg);
	int64_t start = a->start;
	for (int k = a->id; k < nmessages; k += a->n) {
		int64_t due = start + (int64_t)k * 1000000 / rate;
		int64_t now = now_us();
		if (due > now)
			usleep((useconds_t)(due - now));
		char did[24], text[64];
		snprintf(did, sizeof(did), "%lld", (long long)dialog_ids[k % ndialogs]);
		int64_t t = now_us();
		msg_sent_us[k] = t;
		snprintf(text, sizeof(text), "lg t=%lld k=%d", (long long)t, k);
		const char *p[2] = { did, text };
		PGresult *r = PQexecParams(pg, "SELECT 1 FROM chatai_post_message($1::bigint, 'ai', $2)", 2, NULL, p,
		                           NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("publish", pg);
		PQclear(r);
	}
	pthread_mutex_lock(&pub_lock);
	if (now_us() > pub_end_us)
		pub_end_us = now_us();
	if (++publishers_done == a->n)
		published = 1;
	pthread_mutex_unlock(&pub_lock);
	PQfinish(pg);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

int main(int argc, char **argv)
{
	const char *db = NULL;
	int pid = 0, nws = 100, nsse = 0;
	double settle = 3, hold = 0, collect_ms = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "loadgen: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--db")) db = v;
		else if (!strcmp(a, "--host")) host = v;
		else if (!strcmp(a, "--port")) port = atoi(v);
		else if (!strcmp(a, "--pid")) pid = atoi(v);
		else if (!strcmp(a, "--ws")) nws = atoi(v);
		else if (!strcmp(a, "--sse")) nsse = atoi(v);
		else if (!strcmp(a, "--dialogs")) ndialogs = atoi(v);
		else if (!strcmp(a, "--messages")) nmessages = atoi(v);
		else if (!strcmp(a, "--rate")) rate = atoi(v);
		else if (!strcmp(a, "--settle")) settle = atof(v);
		else if (!strcmp(a, "--collect-ms")) collect_ms = atof(v);
		else if (!strcmp(a, "--publishers")) npublishers = atoi(v) < 1 ? 1 : atoi(v) > 16 ? 16 : atoi(v);
		else if (!strcmp(a, "--hold")) hold = atof(v);
		else if (!strcmp(a, "--src")) {
			char *c = strdup(v), *save = NULL;
			for (char *t = strtok_r(c, ",", &save); t && nsrcs < 16; t = strtok_r(NULL, ",", &save))
				if (inet_pton(AF_INET, t, &srcs[nsrcs]) == 1)
					nsrcs++;
		} else {
			fprintf(stderr, "loadgen: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (!db || !port || ndialogs < 1 || rate < 1 || nmessages < 0) {
		fprintf(stderr, "usage: loadgen --db URL --port P [--pid N] [--ws W] [--sse S] [--dialogs D] "
		                "[--messages M] [--rate R] [--src A,B] [--settle S] [--hold S] [--collect-ms MS]\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	setup_db(db);
	loop = ev_default_loop(0);
	nsubs = nws + nsse;
	subs = calloc((size_t)nsubs, sizeof(*subs));
	for (int i = 0; i < nsubs; i++) {
		subs[i].kind = i < nws ? K_WS : K_SSE;
		subs[i].dialog_idx = (uint32_t)(i % ndialogs);
	}
	msg_last_us = calloc((size_t)nmessages + 1, sizeof(int64_t));
	msg_sent_us = calloc((size_t)nmessages + 1, sizeof(int64_t));
	msg_count = calloc((size_t)nmessages + 1, sizeof(int));

	long rss0 = pid ? rss_kb(pid) : -1;
	int64_t t0 = now_us();
	ev_timer tick;
	ev_timer_init(&tick, tick_cb, 0.0, 0.005);
	ev_timer_start(loop, &tick);
	ev_run(loop, 0);
	ev_timer_stop(loop, &tick);
	double connect_s = (double)(now_us() - t0) / 1e6;

	/* Let the notifier settle (auth queries done, buffers freed), then measure. */
	ev_timer st;
	ev_timer_init(&st, stop_cb, settle, 0.);
	ev_timer_start(loop, &st);
	ev_run(loop, 0);
	long rss1 = pid ? rss_kb(pid) : -1;
	printf("connections_wanted=%d\nconnections_held=%d\nconnections_failed=%d\nconnect_seconds=%.2f\n",
	       nsubs, nopen, ndead, connect_s);
	if (pid && nopen > 0)
		printf("notifier_rss_before_kb=%ld\nnotifier_rss_after_kb=%ld\nrss_per_connection_bytes=%.0f\n", rss0,
		       rss1, (double)(rss1 - rss0) * 1024.0 / nopen);
	fflush(stdout);

	if (nmessages > 0 && nopen > 0) {
		pthread_t th[16];
		struct pub_args pa[16];
		/* Collect readiness for a moment before each epoll_wait: a client that sleeps in
		 * epoll_wait makes every delivery wake it, and on loopback that wake-up (and its
		 * inter-processor interrupt) is charged to the notifier's send(), a cost remote
		 * clients never put on it. Receipt times are taken per read, so the figures
		 * include this wait (at most --collect-ms). */
		ev_set_io_collect_interval(loop, collect_ms / 1000.0);
		first_send_us = now_us() + 100000;
		for (int i = 0; i < npublishers; i++) {
			pa[i] = (struct pub_args){ db, i, npublishers, first_send_us };
			pthread_create(&th[i], NULL, publisher, &pa[i]);
		}
		/* Run until everything is published and 2 s have passed with nothing new. */
		for (;;) {
			ev_timer_set(&st, 0.25, 0.);
			ev_timer_start(loop, &st);
			ev_run(loop, 0);
			if (published && now_us() - (last_recv_us ? last_recv_us : first_send_us) > 2000000)
				break;
		}
		for (int i = 0; i < npublishers; i++)
			pthread_join(th[i], NULL);
		qsort(lat, nlat, sizeof(*lat), cmp64);
		int64_t *fan = calloc((size_t)nmessages, sizeof(int64_t));
		int complete = 0;
		int per_dialog = nopen / ndialogs;
		for (int k = 0; k < nmessages; k++) {
			fan[k] = msg_last_us[k] ? msg_last_us[k] - msg_sent_us[k] : 0;
			if (msg_count[k] >= per_dialog)
				complete++;
		}
		qsort(fan, (size_t)nmessages, sizeof(*fan), cmp64);
		double span = (double)(last_recv_us - first_send_us) / 1e6;
		printf("publish_seconds=%.2f\n", (double)(pub_end_us - first_send_us) / 1e6);
		printf("messages=%d\nrate_per_s=%d\ndeliveries=%zu\ndeliveries_expected=%lld\n", nmessages, rate, nlat,
		       (long long)nmessages * per_dialog);
		printf("deliveries_per_s=%.0f\nlatency_ms_p50=%.2f\nlatency_ms_p99=%.2f\nlatency_ms_max=%.2f\n",
		       span > 0 ? (double)nlat / span : 0, pct(lat, nlat, 50), pct(lat, nlat, 99),
		       nlat ? (double)lat[nlat - 1] / 1000.0 : NAN);
		printf("fanout_complete_messages=%d\nfanout_ms_p50=%.2f\nfanout_ms_max=%.2f\n", complete,
		       pct(fan, (size_t)nmessages, 50), (double)fan[nmessages - 1] / 1000.0);
		free(fan);
	}
	if (hold > 0) {
		ev_timer_set(&st, hold, 0.);
		ev_timer_start(loop, &st);
		ev_run(loop, 0);
		printf("connections_held_after_hold=%d\n", nopen);
	}
	fflush(stdout);
	return 0;
}
