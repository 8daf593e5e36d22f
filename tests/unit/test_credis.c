/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/credis and notifier/redis_sub against a real redis-server, started by the test on a
 * free port (and a unix socket) in a temporary folder. Skipped (exit 77) when
 * redis-server is not installed. Runs without forking per test (CK_NOFORK) because the
 * tests stop, freeze and restart the one server.
 */
#include "autoconfig.h"
#include "check_run.h"
#include "config.h"
#include "credis.h"
#include "json.h"
#include "redis_sub.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t redis_pid = -1;
static int redis_port;
static char redis_dir[] = "/tmp/credis-test-XXXXXX";
static char redis_sock[128];
static char url[160];

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("free_port");
		exit(99);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static redisContext *raw_connect(void)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

static void redis_start(void)
{
	char port[16];
	snprintf(port, sizeof port, "%d", redis_port);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(99);
	}
	if (pid == 0) {
		/* The server must not outlive a crashed test run. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char log[160];
		snprintf(log, sizeof log, "%s/redis.log", redis_dir);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--dir", redis_dir, "--unixsocket",
		       redis_sock, "--unixsocketperm", "700", (char *)NULL);
		_exit(127);
	}
	redis_pid = pid;
	for (int i = 0; i < 250; i++) {
		redisContext *c = raw_connect();
		if (c) {
			redisReply *r = redisCommand(c, "PING");
			int ok = r && r->type == REDIS_REPLY_STATUS;
			if (r)
				freeReplyObject(r);
			redisFree(c);
			if (ok)
				return;
		}
		usleep(20000);
	}
	fprintf(stderr, "redis-server did not start on port %d\n", redis_port);
	exit(99);
}

static void redis_stop(int sig)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, sig);
	waitpid(redis_pid, NULL, 0);
	redis_pid = -1;
}

static void raw_flush(void)
{
	redisContext *c = raw_connect();
	ck_assert_ptr_nonnull(c);
	freeReplyObject(redisCommand(c, "FLUSHALL"));
	redisFree(c);
}

static int64_t elapsed_ms(int64_t start_us)
{
	return (now_us() - start_us) / 1000;
}

/* Redis is back: c answers a rate-limit call on key within ms (asked every 50 ms, as its
 * attempts are spaced); the time it took. */
static int64_t answers_within(struct credis *c, const char *key, int ms)
{
	int64_t t0 = now_us();
	int rc = CREDIS_DOWN;
	while (rc != CREDIS_OK && elapsed_ms(t0) < ms) {
		usleep(50 * 1000);
		rc = credis_ratelimit_hit(c, key, 100, 60, NULL, NULL);
	}
	ck_assert_int_eq(rc, CREDIS_OK);
	return elapsed_ms(t0);
}

/*
 * Before each test: the process-wide gate (credis's "Redis is down, do not try before
 * T") left closed by an earlier test's failures is waited out, so each test starts with
 * Redis usable.
 */
static void settle(void)
{
	/* A failed test may have left the server frozen or stopped. */
	if (redis_pid > 0)
		kill(redis_pid, SIGCONT);
	else
		redis_start();
	struct credis *c = credis_open(url);
	int64_t t0 = now_us();
	while (credis_ratelimit_hit(c, "settle", 1000000, 1, NULL, NULL) != CREDIS_OK &&
	       elapsed_ms(t0) < 5000)
		usleep(20 * 1000);
	credis_close(c);
}

/* ---------------------------------------------------------------------------------- */

/* Each accepted form of redis_url and the whole of what it parses to. */
static const struct {
	const char *url;
	struct credis_url want;
} url_cases[] = {
	{ "redis://localhost", { .host = "localhost", .port = 6379 } },
	{ "redis://:s%40cret@10.0.0.5:6380/4",
	  { .host = "10.0.0.5", .port = 6380, .db = 4, .password = "s@cret" } },
	{ "redis://app:pw@[::1]:7000/", { .host = "::1", .port = 7000, .user = "app", .password = "pw" } },
	{ "redis://", { .host = "127.0.0.1", .port = 6379 } },
	{ "unix:///run/redis/redis.sock?db=2&password=x",
	  { .path = "/run/redis/redis.sock", .port = 6379, .db = 2, .password = "x" } },
	{ "/tmp/r.sock", { .path = "/tmp/r.sock", .port = 6379 } },
	{ "unix:/tmp/r.sock", { .path = "/tmp/r.sock", .port = 6379 } },
};

START_TEST(url_forms)
{
	for (size_t i = 0; i < sizeof url_cases / sizeof *url_cases; i++) {
		const struct credis_url *w = &url_cases[i].want;
		struct credis_url u;
		const char *why = NULL;
		ck_assert_msg(credis_url_parse(url_cases[i].url, &u, &why) == 0, "%s: %s", url_cases[i].url,
			      why);
		ck_assert_pstr_eq(u.host, w->host);
		ck_assert_pstr_eq(u.path, w->path);
		ck_assert_int_eq(u.port, w->port);
		ck_assert_int_eq(u.db, w->db);
		ck_assert_pstr_eq(u.user, w->user);
		ck_assert_pstr_eq(u.password, w->password);
		credis_url_free(&u);
	}
}
END_TEST

START_TEST(url_refused)
{
	static const char *const bad[] = {
		"", "localhost:6379", "http://x", "rediss://x", "redis://h:0", "redis://h:65536",
		"redis://h:12ab", "redis://h/abc", "redis://user@h", "redis://[::1", "redis://[::1]x",
		"redis://:p%zz@h", "redis://:p%00@h", "redis://h#frag", "redis://h /1", "unix://rel/path",
		"unix:///s?db=x", "unix:///s?color=red", "unix:///s?db", "redis://h/1?x=y",
		"redis://h\n:1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct credis_url u;
		const char *why = NULL;
		ck_assert_msg(credis_url_parse(bad[i], &u, &why) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(why[0] != '\0', "no reason for \"%s\"", bad[i]);
	}
	/* A malformed redis_url means "run without Redis", not a crash. */
	ck_assert_ptr_null(credis_open("redis://h:99999"));
	ck_assert_ptr_null(credis_open(NULL));
	ck_assert_ptr_null(credis_open(""));
}
END_TEST

START_TEST(off_handle)
{
	int ra = 5;
	int64_t n = 7;
	ck_assert_int_eq(credis_ratelimit_hit(NULL, "k", 1, 1, &ra, &n), CREDIS_OFF);
	ck_assert_int_eq(ra, 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(credis_publish(NULL, "c", "{}", 2, NULL), CREDIS_OFF);
	ck_assert_int_eq(credis_publish_typing(NULL, 1, 1, "ai", "start"), CREDIS_OFF);
	ck_assert_int_eq(credis_presence_touch(NULL, 1, 10), CREDIS_OFF);
	ck_assert_int_eq(credis_presence_clear(NULL, 1), CREDIS_OFF);
	ck_assert_int_eq(credis_operators_online(NULL, &n), CREDIS_OFF);
	ck_assert_int_eq(credis_up(NULL), 0);
	ck_assert_str_eq(credis_status_str(CREDIS_DOWN), "down");
	ck_assert_str_eq(credis_status_str(CREDIS_OFF), "off");
	credis_close(NULL);
}
END_TEST

START_TEST(ratelimit_window)
{
	raw_flush();
	struct credis *c = credis_open(url);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(credis_up(c), 1);
	int ra;
	int64_t n;
	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(credis_ratelimit_hit(c, "msg:10.0.0.1", 3, 1, &ra, &n), CREDIS_OK);
		ck_assert_int_eq(n, i);
		ck_assert_int_eq(ra, 1);
	}
	ck_assert_int_eq(credis_ratelimit_hit(c, "msg:10.0.0.1", 3, 1, &ra, &n), CREDIS_LIMITED);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(ra, 1);
	/* Another key has its own counter; keys are binary-safe. */
	ck_assert_int_eq(credis_ratelimit_hit(c, "msg:10.0.0.2", 3, 1, &ra, &n), CREDIS_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(credis_ratelimit_hit(c, "x \r\n$3\r\n' OR 1=1", 1, 1, &ra, &n), CREDIS_OK);
	ck_assert_int_eq(credis_ratelimit_hit(c, "x \r\n$3\r\n' OR 1=1", 1, 1, &ra, &n),
			 CREDIS_LIMITED);
	/* The window ends: allowed again. */
	usleep(1100 * 1000);
	ck_assert_int_eq(credis_ratelimit_hit(c, "msg:10.0.0.1", 3, 1, &ra, &n), CREDIS_OK);
	ck_assert_int_eq(n, 1);
	/* Retry-After reflects what is left of a longer window. */
	for (int i = 0; i < 2; i++)
		(void)credis_ratelimit_hit(c, "dlg:x", 1, 60, &ra, &n);
	ck_assert_int_eq(n, 2);
	ck_assert_int_ge(ra, 59);
	ck_assert_int_le(ra, 60);
	/* Bad arguments are refused before anything is sent. */
	ck_assert_int_eq(credis_ratelimit_hit(c, "", 3, 1, &ra, &n), CREDIS_INVALID);
	ck_assert_int_eq(credis_ratelimit_hit(c, NULL, 3, 1, &ra, &n), CREDIS_INVALID);
	ck_assert_int_eq(credis_ratelimit_hit(c, "k", 0, 1, &ra, &n), CREDIS_INVALID);
	ck_assert_int_eq(credis_ratelimit_hit(c, "k", 3, 0, &ra, &n), CREDIS_INVALID);
	/* A counter left without expiry (by hand, or a crash between INCR and EXPIRE in a
	 * non-atomic limiter) gets one, so a client is never locked out for ever. */
	redisContext *raw = raw_connect();
	freeReplyObject(redisCommand(raw, "SET chatai:rl:stuck 100"));
	ck_assert_int_eq(credis_ratelimit_hit(c, "stuck", 3, 5, &ra, &n), CREDIS_LIMITED);
	redisReply *r = redisCommand(raw, "PTTL chatai:rl:stuck");
	ck_assert_int_gt(r->integer, 0);
	ck_assert_int_le(r->integer, 5000);
	freeReplyObject(r);
	redisFree(raw);
	credis_close(c);
}
END_TEST

/* Two "web hosts" share one limit: N allowed in total, not 2N. */
START_TEST(ratelimit_shared)
{
	raw_flush();
	struct credis *a = credis_open(url), *b = credis_open(url);
	int allowed = 0, ra;
	for (int i = 0; i < 20; i++) {
		int rc = credis_ratelimit_hit(i % 2 ? a : b, "shared", 7, 30, &ra, NULL);
		ck_assert(rc == CREDIS_OK || rc == CREDIS_LIMITED);
		allowed += rc == CREDIS_OK;
	}
	ck_assert_int_eq(allowed, 7);
	credis_close(a);
	credis_close(b);
}
END_TEST

struct hitter {
	pthread_t th;
	int allowed;
	int errors;
};

static void *hit_thread(void *arg)
{
	struct hitter *h = arg;
	struct credis *c = credis_open(url);
	for (int i = 0; i < 60; i++) {
		int rc = credis_ratelimit_hit(c, "race", 100, 30, NULL, NULL);
		if (rc == CREDIS_OK)
			h->allowed++;
		else if (rc != CREDIS_LIMITED)
			h->errors++;
	}
	credis_close(c);
	return NULL;
}

/* Concurrent hits from four threads (one handle each): exactly `limit` allowed. */
START_TEST(ratelimit_concurrent)
{
	raw_flush();
	struct hitter h[4];
	memset(h, 0, sizeof h);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&h[i].th, NULL, hit_thread, &h[i]), 0);
	int allowed = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(h[i].th, NULL);
		allowed += h[i].allowed;
		ck_assert_int_eq(h[i].errors, 0);
	}
	ck_assert_int_eq(allowed, 100);
}
END_TEST

static void *thread_handle_probe(void *arg)
{
	struct credis **out = arg;
	out[0] = credis_thread();
	out[1] = credis_thread();
	if (out[0])
		(void)credis_ratelimit_hit(out[0], "per-thread", 100, 60, NULL, NULL);
	return NULL;
}

/* credis_thread(): one handle per thread from redis_url, NULL when unset. */
START_TEST(thread_handles)
{
	raw_flush();
	config_set("redis_url", url);
	struct credis *mine = credis_thread();
	ck_assert_ptr_nonnull(mine);
	ck_assert_ptr_eq(credis_thread(), mine);
	struct credis *other[2] = { NULL, NULL };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, thread_handle_probe, other), 0);
	pthread_join(th, NULL);
	ck_assert_ptr_nonnull(other[0]);
	ck_assert_ptr_eq(other[0], other[1]);
	ck_assert_ptr_ne(other[0], mine); /* (closed at that thread's exit) */
	int64_t n;
	ck_assert_int_eq(credis_ratelimit_hit(mine, "per-thread", 100, 60, NULL, &n), CREDIS_OK);
	ck_assert_int_eq(n, 2);
	/* A changed setting (reload) gives a handle for the new value. */
	char other_db[200];
	snprintf(other_db, sizeof other_db, "%s/2", url);
	config_set("redis_url", other_db);
	struct credis *db2 = credis_thread();
	ck_assert_ptr_nonnull(db2);
	ck_assert_ptr_eq(credis_thread(), db2);
	ck_assert_int_eq(credis_ratelimit_hit(db2, "per-thread", 100, 60, NULL, &n), CREDIS_OK);
	ck_assert_int_eq(n, 1); /* database 2: its own counter */
	config_set("redis_url", "");
	ck_assert_ptr_null(credis_thread());
	struct credis *none[2] = { mine, mine };
	ck_assert_int_eq(pthread_create(&th, NULL, thread_handle_probe, none), 0);
	pthread_join(th, NULL);
	ck_assert_ptr_null(none[0]);
	ck_assert_ptr_null(none[1]);
}
END_TEST

START_TEST(publish_typing)
{
	struct credis *c = credis_open(url);
	/* Nobody subscribed: the caller must use PostgreSQL. */
	ck_assert_int_eq(credis_publish_typing(c, 7, 1, "ai", "start"), CREDIS_DOWN);
	ck_assert_int_eq(credis_up(c), 1);

	redisContext *sub = raw_connect();
	redisReply *r = redisCommand(sub, "SUBSCRIBE %s", CREDIS_CHANNEL);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	ck_assert_int_eq(credis_publish_typing(c, 7, 3, "manager", "stop"), CREDIS_OK);
	void *v = NULL;
	ck_assert_int_eq(redisGetReply(sub, &v), REDIS_OK);
	r = v;
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_int_eq(r->elements, 3);
	ck_assert_str_eq(r->element[0]->str, "message");
	ck_assert_str_eq(r->element[1]->str, CREDIS_CHANNEL);
	ck_assert_str_eq(r->element[2]->str,
			 "{\"k\":\"typing\",\"dialog_id\":7,\"assistant_id\":3,\"who\":\"manager\","
			 "\"state\":\"stop\"}");
	cJSON *j = cJSON_Parse(r->element[2]->str);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(cJSON_GetObjectItem(j, "k")->valuestring, "typing");
	ck_assert_int_eq(cJSON_GetObjectItem(j, "dialog_id")->valueint, 7);
	cJSON_Delete(j);
	freeReplyObject(r);

	int64_t rec = -1;
	ck_assert_int_eq(credis_publish(c, CREDIS_CHANNEL, "a\0b", 3, &rec), CREDIS_OK);
	ck_assert_int_eq(rec, 1);
	ck_assert_int_eq(redisGetReply(sub, &v), REDIS_OK);
	r = v;
	ck_assert_int_eq(r->element[2]->len, 3); /* binary-safe */
	freeReplyObject(r);
	redisFree(sub);

	ck_assert_int_eq(credis_publish_typing(c, 7, 1, "bot", "start"), CREDIS_INVALID);
	ck_assert_int_eq(credis_publish_typing(c, 7, 1, "ai", "typing"), CREDIS_INVALID);
	ck_assert_int_eq(credis_publish_typing(c, 0, 1, "ai", "start"), CREDIS_INVALID);
	ck_assert_int_eq(credis_publish_typing(c, 7, 1, NULL, "start"), CREDIS_INVALID);
	ck_assert_int_eq(credis_publish(c, "", "{}", 2, NULL), CREDIS_INVALID);
	credis_close(c);
}
END_TEST

START_TEST(presence)
{
	raw_flush();
	struct credis *c = credis_open(url);
	int64_t n = -1;
	ck_assert_int_eq(credis_operators_online(c, &n), CREDIS_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(credis_presence_touch(c, 1, 60), CREDIS_OK);
	ck_assert_int_eq(credis_presence_touch(c, 1, 60), CREDIS_OK); /* no double count */
	ck_assert_int_eq(credis_presence_touch(c, 2, 60), CREDIS_OK);
	ck_assert_int_eq(credis_presence_touch(c, 3, 1), CREDIS_OK);
	ck_assert_int_eq(credis_operators_online(c, &n), CREDIS_OK);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(credis_presence_clear(c, 2), CREDIS_OK);
	ck_assert_int_eq(credis_operators_online(c, &n), CREDIS_OK);
	ck_assert_int_eq(n, 2);
	/* Operator 3's presence runs out by itself (Redis's clock has 1 s steps). */
	int64_t t0 = now_us();
	while (n != 1 && elapsed_ms(t0) < 3000) {
		usleep(100 * 1000);
		ck_assert_int_eq(credis_operators_online(c, &n), CREDIS_OK);
	}
	ck_assert_int_eq(n, 1);
	/* Repeated touches within a quarter of the ttl cost no round trip... */
	struct credis *d = credis_open(url);
	ck_assert_int_eq(credis_presence_touch(d, 5, 40), CREDIS_OK);
	redisContext *raw = raw_connect();
	freeReplyObject(redisCommand(raw, "ZREM chatai:presence 5"));
	ck_assert_int_eq(credis_presence_touch(d, 5, 40), CREDIS_OK);
	redisReply *rr = redisCommand(raw, "ZSCORE chatai:presence 5");
	ck_assert_int_eq(rr->type, REDIS_REPLY_NIL);
	freeReplyObject(rr);
	/* ...but another operator, or a clear, goes through. */
	ck_assert_int_eq(credis_presence_touch(d, 6, 40), CREDIS_OK);
	ck_assert_int_eq(credis_presence_touch(d, 5, 40), CREDIS_OK);
	rr = redisCommand(raw, "ZSCORE chatai:presence 5");
	ck_assert_int_eq(rr->type, REDIS_REPLY_STRING);
	freeReplyObject(rr);
	ck_assert_int_eq(credis_presence_clear(d, 5), CREDIS_OK);
	ck_assert_int_eq(credis_presence_clear(d, 6), CREDIS_OK);
	redisFree(raw);
	credis_close(d);
	ck_assert_int_eq(credis_presence_touch(c, 0, 60), CREDIS_INVALID);
	ck_assert_int_eq(credis_presence_touch(c, 1, 0), CREDIS_INVALID);
	credis_close(c);
}
END_TEST

START_TEST(unix_socket_and_db)
{
	raw_flush();
	char u[200];
	snprintf(u, sizeof u, "unix://%s?db=3", redis_sock);
	struct credis *c = credis_open(u);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(credis_up(c), 1);
	ck_assert_int_eq(credis_ratelimit_hit(c, "in-db-3", 5, 60, NULL, NULL), CREDIS_OK);
	credis_close(c);
	redisContext *raw = raw_connect();
	redisReply *r = redisCommand(raw, "EXISTS chatai:rl:in-db-3");
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
	freeReplyObject(redisCommand(raw, "SELECT 3"));
	r = redisCommand(raw, "EXISTS chatai:rl:in-db-3");
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	redisFree(raw);
}
END_TEST

START_TEST(password)
{
	redisContext *raw = raw_connect();
	freeReplyObject(redisCommand(raw, "CONFIG SET requirepass s3cr%s", "et"));
	char u[200];
	snprintf(u, sizeof u, "redis://:s3cret@127.0.0.1:%d/0", redis_port);
	struct credis *good = credis_open(u);
	ck_assert_int_eq(credis_ratelimit_hit(good, "pw", 5, 60, NULL, NULL), CREDIS_OK);
	snprintf(u, sizeof u, "redis://:wrong@127.0.0.1:%d", redis_port);
	struct credis *bad = credis_open(u);
	ck_assert_ptr_nonnull(bad);
	ck_assert_int_eq(credis_up(bad), 0);
	ck_assert_int_eq(credis_ratelimit_hit(bad, "pw", 5, 60, NULL, NULL), CREDIS_DOWN);
	/* No password at all: the server refuses the script: "down", quickly. */
	struct credis *none = credis_open(url);
	int64_t t0 = now_us();
	ck_assert_int_eq(credis_ratelimit_hit(none, "pw", 5, 60, NULL, NULL), CREDIS_DOWN);
	ck_assert_int_lt(elapsed_ms(t0), 100);
	credis_close(good);
	credis_close(bad);
	credis_close(none);
	freeReplyObject(redisCommand(raw, "AUTH s3cret"));
	freeReplyObject(redisCommand(raw, "CONFIG SET requirepass %s", ""));
	redisFree(raw);
}
END_TEST

/* Count the lines of file that contain needle. */
static int count_lines(const char *file, const char *needle)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return -1;
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/*
 * Redis killed: every call answers CREDIS_DOWN quickly, further calls cost nothing
 * (spaced reconnects), and the transition is logged once for the whole process even
 * with two handles. Redis back: calls succeed again and "redis back" is logged once.
 */
START_TEST(down_and_back)
{
	struct credis *a = credis_open(url), *b = credis_open(url);
	credis_set_timeouts(a, 200, 200, 300);
	credis_set_timeouts(b, 200, 200, 300);
	ck_assert_int_eq(credis_ratelimit_hit(a, "db", 100, 60, NULL, NULL), CREDIS_OK);
	ck_assert_int_eq(credis_ratelimit_hit(b, "db", 100, 60, NULL, NULL), CREDIS_OK);

	/* From here on (the process-wide state is "up"), capture the log. */
	char logf[160];
	snprintf(logf, sizeof logf, "%s/stderr.log", redis_dir);
	int saved = dup(2);
	int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	close(fd);

	redis_stop(SIGKILL);
	int64_t t0 = now_us();
	ck_assert_int_eq(credis_ratelimit_hit(a, "db", 100, 60, NULL, NULL), CREDIS_DOWN);
	ck_assert_int_eq(credis_publish_typing(b, 1, 1, "ai", "start"), CREDIS_DOWN);
	int64_t n;
	ck_assert_int_eq(credis_operators_online(a, &n), CREDIS_DOWN);
	ck_assert_int_eq(credis_presence_touch(b, 1, 10), CREDIS_DOWN);
	ck_assert_int_lt(elapsed_ms(t0), 100);
	ck_assert_int_eq(credis_up(a), 0);
	/* While down, a burst of calls is nearly free (no connect per call). */
	t0 = now_us();
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(credis_ratelimit_hit(a, "db", 100, 60, NULL, NULL), CREDIS_DOWN);
	ck_assert_int_lt(elapsed_ms(t0), 200);

	redis_start();
	/* Within the spacing of attempts, which doubles per failure up to 2 s. */
	ck_assert_int_le(answers_within(a, "db", 3000), 2300);
	ck_assert_int_eq(credis_up(a), 1);
	usleep(350 * 1000);
	ck_assert_int_eq(credis_operators_online(b, &n), CREDIS_OK);

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(count_lines(logf, "redis down: falling back to PostgreSQL"), 1);
	ck_assert_int_eq(count_lines(logf, "redis back"), 1);
	credis_close(a);
	credis_close(b);
}
END_TEST

/* A restart between two calls costs no failed call (the dead link is replaced at
 * once, and the forgotten script cache is reloaded). */
START_TEST(restart_transparent)
{
	struct credis *c = credis_open(url);
	ck_assert_int_eq(credis_ratelimit_hit(c, "rs", 100, 60, NULL, NULL), CREDIS_OK);
	ck_assert_int_eq(credis_presence_touch(c, 9, 60), CREDIS_OK);
	redis_stop(SIGTERM);
	redis_start();
	int64_t n;
	ck_assert_int_eq(credis_ratelimit_hit(c, "rs", 100, 60, NULL, &n), CREDIS_OK);
	ck_assert_int_eq(n, 1); /* a fresh server, no persistence */
	ck_assert_int_eq(credis_operators_online(c, &n), CREDIS_OK);
	ck_assert_int_eq(n, 0);
	/* The presence lost with the restart comes back on the next touch (the handle's
	 * "touched recently" memory does not outlive its link). */
	ck_assert_int_eq(credis_presence_touch(c, 9, 60), CREDIS_OK);
	ck_assert_int_eq(credis_operators_online(c, &n), CREDIS_OK);
	ck_assert_int_eq(n, 1);
	credis_close(c);
}
END_TEST

/*
 * Many threads' handles hold links to a Redis that restarts while one of them has
 * closed the gate: when the gate opens, each stale handle must reconnect on its first
 * call (the prober's retry after EOF is not stopped by the gate it set itself).
 */
START_TEST(stale_handles_after_restart)
{
	struct credis *h[6];
	for (int i = 0; i < 6; i++) {
		h[i] = credis_open(url);
		ck_assert_int_eq(credis_ratelimit_hit(h[i], "stale", 1000, 60, NULL, NULL), CREDIS_OK);
	}
	redis_stop(SIGKILL);
	ck_assert_int_eq(credis_ratelimit_hit(h[0], "stale", 1000, 60, NULL, NULL), CREDIS_DOWN);
	redis_start();
	usleep(600 * 1000); /* past the first spacing (250 ms) */
	for (int i = 1; i < 6; i++)
		ck_assert_msg(credis_ratelimit_hit(h[i], "stale", 1000, 60, NULL, NULL) == CREDIS_OK,
			      "stale handle %d", i);
	ck_assert_int_eq(credis_ratelimit_hit(h[0], "stale", 1000, 60, NULL, NULL), CREDIS_OK);
	for (int i = 0; i < 6; i++)
		credis_close(h[i]);
}
END_TEST

/* A frozen Redis (SIGSTOP) answers nothing: the command timeout bounds the wait. */
START_TEST(hung_server)
{
	struct credis *c = credis_open(url);
	ck_assert_int_eq(credis_ratelimit_hit(c, "hung", 100, 60, NULL, NULL), CREDIS_OK);
	kill(redis_pid, SIGSTOP);
	int64_t t0 = now_us();
	ck_assert_int_eq(credis_ratelimit_hit(c, "hung", 100, 60, NULL, NULL), CREDIS_DOWN);
	int64_t ms = elapsed_ms(t0);
	ck_assert_int_ge(ms, 150);
	ck_assert_int_lt(ms, 450);
	/* Within the spacing: no new attempt, immediate. */
	t0 = now_us();
	ck_assert_int_eq(credis_operators_online(c, NULL), CREDIS_DOWN);
	ck_assert_int_lt(elapsed_ms(t0), 20);
	/* A new handle meanwhile: connect succeeds (the kernel accepts) but the first
	 * command times out: still bounded. */
	t0 = now_us();
	struct credis *d = credis_open(url);
	ck_assert_int_eq(credis_presence_touch(d, 1, 5), CREDIS_DOWN);
	ck_assert_int_lt(elapsed_ms(t0), 700);
	kill(redis_pid, SIGCONT);
	answers_within(c, "hung", 3000);
	credis_close(c);
	credis_close(d);
}
END_TEST

struct staller {
	pthread_t th;
	int calls, stalls;
};

static void *stall_thread(void *arg)
{
	struct staller *st = arg;
	struct credis *c = credis_open(url);
	int64_t t0 = now_us();
	while (elapsed_ms(t0) < 1500) {
		int64_t t = now_us();
		(void)credis_ratelimit_hit(c, "frozen", 100, 60, NULL, NULL);
		if (elapsed_ms(t) >= 100)
			st->stalls++;
		st->calls++;
		usleep(10 * 1000);
	}
	credis_close(c);
	return NULL;
}

/* A frozen Redis and four busy threads: once one of them has paid the timeout, the
 * others skip Redis; afterwards one probe at a time, spaced more and more. Without the
 * process-wide gate each thread would stall every ~450 ms (about 12 stalls here). */
START_TEST(frozen_gate)
{
	struct credis *c = credis_open(url);
	ck_assert_int_eq(credis_ratelimit_hit(c, "frozen", 100, 60, NULL, NULL), CREDIS_OK);
	kill(redis_pid, SIGSTOP);
	ck_assert_int_eq(credis_ratelimit_hit(c, "frozen", 100, 60, NULL, NULL), CREDIS_DOWN);
	struct staller st[4];
	memset(st, 0, sizeof st);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&st[i].th, NULL, stall_thread, &st[i]), 0);
	int calls = 0, stalls = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(st[i].th, NULL);
		calls += st[i].calls;
		stalls += st[i].stalls;
	}
	kill(redis_pid, SIGCONT);
	ck_assert_int_ge(calls, 200);
	ck_assert_int_le(stalls, 3);
	credis_close(c);
}
END_TEST

/* Nothing listens on the port at all: refused at once. */
START_TEST(nothing_listening)
{
	char u[80];
	snprintf(u, sizeof u, "redis://127.0.0.1:%d", free_port());
	int64_t t0 = now_us();
	struct credis *c = credis_open(u);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(credis_ratelimit_hit(c, "x", 1, 1, NULL, NULL), CREDIS_DOWN);
	ck_assert_int_lt(elapsed_ms(t0), 100);
	credis_close(c);
}
END_TEST


/* ---------------------------------------------------------------------------------- */
/* notifier/redis_sub */

START_TEST(sub_parse)
{
	struct redis_sub_event ev;
	char buf[256];
	const char *ok = "{\"state\": \"start\", \"who\": \"ai\", \"k\": \"typing\", "
			 "\"dialog_id\": 12, \"assistant_id\": 3, \"extra\": {\"msg\": 1}}";
	ck_assert_int_eq(redis_sub_parse(ok, strlen(ok), &ev, buf, sizeof buf), 0);
	ck_assert_int_eq(ev.dialog_id, 12);
	ck_assert_int_eq(ev.assistant_id, 3);
	ck_assert_str_eq(ev.who, "ai");
	ck_assert_str_eq(ev.state, "start");
	/* Canonical: what the publisher added does not ride along. */
	ck_assert_str_eq(ev.json, "{\"k\":\"typing\",\"dialog_id\":12,\"assistant_id\":3,"
				  "\"who\":\"ai\",\"state\":\"start\"}");
	ck_assert_int_eq(ev.len, strlen(ev.json));

	static const char *const bad[] = {
		"", "not json", "[1,2]", "\"typing\"", "{}",
		"{\"k\":\"msg\",\"dialog_id\":1,\"assistant_id\":1,\"seq\":1,\"aud\":\"all\",\"msg\":{}}",
		"{\"k\":\"revoke\",\"session_id\":1}",
		"{\"k\":\"typing\",\"dialog_id\":\"1\",\"assistant_id\":1,\"who\":\"ai\",\"state\":\"start\"}",
		"{\"k\":\"typing\",\"dialog_id\":1.5,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"start\"}",
		"{\"k\":\"typing\",\"dialog_id\":0,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"start\"}",
		"{\"k\":\"typing\",\"dialog_id\":1,\"who\":\"ai\",\"state\":\"start\"}",
		"{\"k\":\"typing\",\"dialog_id\":1,\"assistant_id\":1,\"who\":\"bot\",\"state\":\"start\"}",
		"{\"k\":\"typing\",\"dialog_id\":1,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"on\"}",
		"{\"k\":\"typing\",\"dialog_id\":1,\"assistant_id\":1,\"who\":null,\"state\":\"stop\"}",
		"{\"k\":\"typing\",\"dialog_id\":1,\"assistant_id\":1,\"who\":\"ai\\u0000\",\"state\":\"stop\"}",
		"{\"k\":\"typing\",\"dialog_id\":1,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"stop\"} x",
		"{\"k\":\"typing\xff\",\"dialog_id\":1,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"stop\"}",
		"{\"k\":\"typing\",\"dialog_id\":99999999999999999999,\"assistant_id\":1,\"who\":\"ai\",\"state\":\"stop\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(redis_sub_parse(bad[i], strlen(bad[i]), &ev, buf, sizeof buf) == -1,
			      "accepted %s", bad[i]);
	/* Oversized, and a raw NUL inside. */
	char big[2048];
	memset(big, ' ', sizeof big);
	memcpy(big, ok, strlen(ok));
	ck_assert_int_eq(redis_sub_parse(big, sizeof big, &ev, buf, sizeof buf), -1);
	ck_assert_int_eq(redis_sub_parse(ok, strlen(ok) + 1, &ev, buf, sizeof buf), -1);
	ck_assert_int_eq(redis_sub_parse(NULL, 0, &ev, buf, sizeof buf), -1);
}
END_TEST

struct sub_probe {
	int events;
	int ups, downs;
	struct redis_sub_event last;
	char json[256];
	enum redis_sub_state state;
};

static void probe_event(void *ctx, const struct redis_sub_event *ev)
{
	struct sub_probe *p = ctx;
	p->events++;
	p->last = *ev;
	snprintf(p->json, sizeof p->json, "%.*s", (int)ev->len, ev->json);
	p->last.json = p->json;
}

static void probe_state(void *ctx, enum redis_sub_state st)
{
	struct sub_probe *p = ctx;
	p->state = st;
	if (st == REDIS_SUB_UP)
		p->ups++;
	else
		p->downs++;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Run the loop until *flag reaches want or ms pass; returns the time taken (ms). */
static int64_t run_until(struct ev_loop *loop, const int *flag, int want, int ms)
{
	ev_timer tick;
	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	int64_t t0 = now_us();
	while (*flag < want && elapsed_ms(t0) < ms)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
	return elapsed_ms(t0);
}

/* rs, left to run for ms, is still down and has tried again at least once. */
static void stays_down(struct ev_loop *loop, struct redis_sub *rs, int ms)
{
	int never = 0;
	run_until(loop, &never, 1, ms);
	ck_assert_int_eq(redis_sub_state(rs), REDIS_SUB_DOWN);
	struct redis_sub_stats st;
	redis_sub_stats(rs, &st);
	ck_assert_int_ge(st.reconnects, 1);
}

/* Each sub_ test: redis_sub on loop.h's default loop, what it tells counted in *p. */
static struct ev_loop *sub_begin(struct sub_probe *p)
{
	loop_init();
	memset(p, 0, sizeof *p);
	return loop_ev();
}

/* Subscribed (the n-th time) within ms; the time it took. */
static int64_t sub_wait_up(struct ev_loop *loop, struct redis_sub *rs, struct sub_probe *p, int n, int ms)
{
	int64_t t = run_until(loop, &p->ups, n, ms);
	ck_assert_int_eq(redis_sub_state(rs), REDIS_SUB_UP);
	return t;
}

/* Stopping frees cleanly, connected or not, a reconnect pending or not. */
static void sub_end(struct ev_loop *loop, struct redis_sub *rs)
{
	redis_sub_stop(rs);
	ev_loop_destroy(loop);
}

START_TEST(sub_off)
{
	struct sub_probe p;
	struct ev_loop *loop = sub_begin(&p);
	ck_assert_ptr_null(redis_sub_start(NULL, probe_event, probe_state, &p));
	ck_assert_ptr_null(redis_sub_start("", probe_event, probe_state, &p));
	ck_assert_ptr_null(redis_sub_start("http://nope", probe_event, probe_state, &p));
	ck_assert_int_eq(redis_sub_state(NULL), REDIS_SUB_OFF);
	ck_assert_str_eq(redis_sub_state_str(redis_sub_state(NULL)), "off");
	ck_assert_str_eq(redis_sub_state_str(REDIS_SUB_DOWN), "down");
	ck_assert_str_eq(redis_sub_state_str(REDIS_SUB_UP), "up");
	struct redis_sub_stats st;
	redis_sub_stats(NULL, &st);
	ck_assert_int_eq(st.events, 0);
	/* Nothing listening: stays down, retries, stops cleanly. */
	char u[80];
	snprintf(u, sizeof u, "redis://127.0.0.1:%d", free_port());
	struct redis_sub *rs = redis_sub_start(u, probe_event, probe_state, &p);
	ck_assert_ptr_nonnull(rs);
	stays_down(loop, rs, 400);
	ck_assert_int_eq(p.ups, 0);
	sub_end(loop, rs);
}
END_TEST

/*
 * The whole path: credis publishes, redis_sub receives and validates; Redis killed:
 * state down and publishers told "down"; Redis back: subscribed again and events flow.
 */
START_TEST(sub_live)
{
	struct sub_probe p;
	struct ev_loop *loop = sub_begin(&p);
	struct redis_sub *rs = redis_sub_start(url, probe_event, probe_state, &p);
	ck_assert_ptr_nonnull(rs);
	ck_assert_int_eq(redis_sub_state(rs), REDIS_SUB_DOWN);
	sub_wait_up(loop, rs, &p, 1, 2000);

	struct credis *c = credis_open(url);
	ck_assert_int_eq(credis_publish_typing(c, 41, 2, "user", "start"), CREDIS_OK);
	run_until(loop, &p.events, 1, 2000);
	ck_assert_int_eq(p.events, 1);
	ck_assert_int_eq(p.last.dialog_id, 41);
	ck_assert_int_eq(p.last.assistant_id, 2);
	ck_assert_str_eq(p.last.who, "user");
	ck_assert_str_eq(p.last.state, "start");

	/* Garbage and a forged chat message are dropped, and counted. */
	const char *forged = "{\"k\":\"msg\",\"dialog_id\":41,\"assistant_id\":2,\"seq\":9,"
			     "\"aud\":\"all\",\"msg\":{\"text\":\"pay here\"}}";
	ck_assert_int_eq(credis_publish(c, CREDIS_CHANNEL, forged, strlen(forged), NULL), CREDIS_OK);
	ck_assert_int_eq(credis_publish(c, CREDIS_CHANNEL, "\xff\xfe", 2, NULL), CREDIS_OK);
	ck_assert_int_eq(credis_publish_typing(c, 41, 2, "ai", "stop"), CREDIS_OK);
	run_until(loop, &p.events, 2, 2000);
	ck_assert_int_eq(p.events, 2);
	ck_assert_str_eq(p.last.who, "ai");
	struct redis_sub_stats st;
	redis_sub_stats(rs, &st);
	ck_assert_int_eq(st.events, 2);
	ck_assert_int_eq(st.rejected, 2);

	/* Killed: down at once. */
	redis_stop(SIGKILL);
	run_until(loop, &p.downs, 1, 2000);
	ck_assert_int_eq(redis_sub_state(rs), REDIS_SUB_DOWN);
	ck_assert_int_eq(credis_publish_typing(c, 41, 2, "ai", "start"), CREDIS_DOWN);
	/* Let a few attempts fail, then bring it back: subscribed again soon. */
	int never = 0;
	run_until(loop, &never, 1, 500);
	redis_start();
	int64_t ms = sub_wait_up(loop, rs, &p, 2, 6000);
	ck_assert_int_lt(ms, 2000); /* backoff was at most 800 ms by then */
	/* Publishers may still be in their retry spacing: poll. */
	int rc = CREDIS_DOWN;
	int64_t t0 = now_us();
	while (rc != CREDIS_OK && elapsed_ms(t0) < 2000) {
		rc = credis_publish_typing(c, 42, 2, "manager", "start");
		if (rc != CREDIS_OK)
			usleep(50 * 1000);
	}
	ck_assert_int_eq(rc, CREDIS_OK);
	run_until(loop, &p.events, 3, 2000);
	ck_assert_int_eq(p.events, 3);
	ck_assert_int_eq(p.last.dialog_id, 42);
	credis_close(c);
	redis_stop(SIGTERM);
	redis_start();
	/* Stopping while connected (and while a reconnect is pending) frees cleanly. */
	sub_end(loop, rs);
}
END_TEST

/* A server that accepts the connection but never answers (frozen): the attempt is
 * abandoned after the connect timeout and started over; once it thaws, subscribed. */
START_TEST(sub_frozen_server)
{
	struct sub_probe p;
	struct ev_loop *loop = sub_begin(&p);
	kill(redis_pid, SIGSTOP);
	struct redis_sub *rs = redis_sub_start(url, probe_event, probe_state, &p);
	stays_down(loop, rs, 2600);
	kill(redis_pid, SIGCONT);
	sub_wait_up(loop, rs, &p, 1, 4000);
	sub_end(loop, rs);
}
END_TEST

static int have_redis_server(void)
{
	const char *path = getenv("PATH");
	if (!path)
		return 0;
	char *p = xstrdup(path), *save = NULL;
	int found = 0;
	for (char *d = strtok_r(p, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char f[512];
		snprintf(f, sizeof f, "%s/redis-server", d);
		found = access(f, X_OK) == 0;
	}
	free(p);
	return found;
}

int main(void)
{
	if (!have_redis_server()) {
		printf("SKIP: redis-server not installed (Debian package redis-server)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init("test_credis", "stderr", "info");
	json_init();
	if (!mkdtemp(redis_dir)) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", redis_dir);
	redis_port = free_port();
	snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_port);
	redis_start();

	Suite *s = suite_create("credis");
	TCase *cases[] = {
		check_case(s, "credis", CHECK_TESTS(url_forms, url_refused, off_handle, ratelimit_window,
						    ratelimit_shared, ratelimit_concurrent, thread_handles,
						    publish_typing, presence, unix_socket_and_db, password,
						    down_and_back, restart_transparent, stale_handles_after_restart,
						    hung_server, frozen_gate, nothing_listening)),
		check_case(s, "redis_sub", CHECK_TESTS(sub_parse, sub_off, sub_live, sub_frozen_server)),
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		tcase_set_timeout(cases[i], 30);
		tcase_add_checked_fixture(cases[i], settle, NULL);
	}
	int status = check_run(s, CK_NOFORK);

	redis_stop(SIGTERM);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", redis_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", redis_dir);
	return status;
}
