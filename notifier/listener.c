/* SPDX-License-Identifier: MIT */
/* listener: listening sockets, accept, the per-address caps and X-Forwarded-For (client.h). */
#include "autoconfig.h"
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

#define MAX_LISTENERS 8
static struct loop_io listeners[MAX_LISTENERS];
static int n_listeners;
static struct loop_timer accept_pause;
static int stopped;

#define IP_BUCKETS 4096
static struct ip_count *ip_table[IP_BUCKETS];
static double ip_swept_at;

/* ---- per-address cap ---------------------------------------------------------- */

static size_t ip_hash(const uint8_t a[16])
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 1099511628211ull;
	return (size_t)(h % IP_BUCKETS);
}

static void ss_addr(const struct sockaddr_storage *ss, uint8_t a[16])
{
	memset(a, 0, 16);
	if (ss->ss_family == AF_INET) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		memcpy(a, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
}

/* Count one more connection from a; NULL when over the cap (unless !enforce). */
static struct ip_count *ip_take(const uint8_t a[16], int enforce)
{
	size_t b = ip_hash(a);
	struct ip_count *e;
	for (e = ip_table[b]; e; e = e->next)
		if (memcmp(e->addr, a, 16) == 0)
			break;
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->addr, a, 16);
		e->next = ip_table[b];
		ip_table[b] = e;
	}
	if (enforce && e->n >= conn_cfg.max_per_ip)
		return NULL;
	e->n++;
	return e;
}

static int is_trusted(const uint8_t a[16])
{
	for (int i = 0; i < conn_cfg.ntrusted; i++)
		if (memcmp(a, conn_cfg.trusted[i], 16) == 0)
			return 1;
	return 0;
}

static void ip_free(struct ip_count *e)
{
	size_t b = ip_hash(e->addr);
	struct ip_count **pp = &ip_table[b];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	free(e);
}

uint32_t listener_typing_minute(void)
{
	return (uint32_t)(loop_now() / 60.0);
}

/* An address whose typing events of this minute are counted stays known when its last
 * connection closes, so reconnecting does not start its count again; listener_ip_sweep()
 * forgets it once that minute is over. */
void listener_ip_release(struct ip_count *e)
{
	if (!e || --e->n)
		return;
	if (e->typing_hits && e->typing_win == listener_typing_minute())
		return;
	ip_free(e);
}

void listener_ip_sweep(void)
{
	if (loop_now() - ip_swept_at < 60.0)
		return;
	ip_swept_at = loop_now();
	uint32_t win = listener_typing_minute();
	for (int i = 0; i < IP_BUCKETS; i++) {
		struct ip_count **pp = &ip_table[i];
		while (*pp) {
			struct ip_count *e = *pp;
			if (e->n == 0 && e->typing_win != win) {
				*pp = e->next;
				free(e);
			} else {
				pp = &e->next;
			}
		}
	}
}

void listener_ip_free_all(void)
{
	for (int i = 0; i < IP_BUCKETS; i++) {
		while (ip_table[i]) {
			struct ip_count *e = ip_table[i];
			ip_table[i] = e->next;
			free(e);
		}
	}
}

static void refuse_too_many(struct client *c)
{
	metrics.refused_per_ip_total++;
	tr_http_respond(c, 429, "application/json; charset=utf-8", TOO_MANY_CONNS_BODY, "Retry-After: 5\r\n");
}

/*
 * Behind a reverse proxy every client comes from the proxy's address: for a peer listed in
 * notifier_trusted_proxies the per-address cap counts the address the proxy appended to
 * X-Forwarded-For instead. 0, or -1 when that address is over its cap (answered 429).
 */
int listener_forwarded_for(struct client *c)
{
	uint8_t client[16];
	if (!is_trusted(c->ip->addr))
		return 0;
	if (!c->req->forwarded_for[0] || http_forwarded_addr(c->req->forwarded_for, client) != 0) {
		/* Direct from the proxy's own address: that address's cap applies. */
		if (c->ip->n > conn_cfg.max_per_ip) {
			refuse_too_many(c);
			return -1;
		}
		return 0;
	}
	addr_prefix64(client); /* IPv6 per /64 */
	struct ip_count *ip = ip_take(client, 1);
	if (!ip) {
		refuse_too_many(c);
		return -1;
	}
	listener_ip_release(c->ip);
	c->ip = ip;
	return 0;
}

/* ---- accept ------------------------------------------------------------------- */

static void accept_one(int fd, const struct sockaddr_storage *ss)
{
	uint8_t peer[16];
	ss_addr(ss, peer);
	/* A trusted proxy carries many clients: they are counted by X-Forwarded-For once the
	 * request head is read (listener_forwarded_for). Others count per /64 (IPv6: one
	 * client holds a whole /64) or per IPv4 address. */
	int trusted = is_trusted(peer);
	if (!trusted)
		addr_prefix64(peer);
	struct ip_count *ip = ip_take(peer, !trusted);
	if (!ip) {
		static const char busy[] = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json; charset=utf-8\r\n"
		                           "Content-Length: 84\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
		                           TOO_MANY_CONNS_BODY;
		_Static_assert(sizeof(TOO_MANY_CONNS_BODY) - 1 == 84, "Content-Length of busy[]");
		metrics.refused_per_ip_total++;
		ssize_t w = write(fd, busy, sizeof(busy) - 1);
		(void)w;
		close(fd);
		return;
	}
	conn_new(fd, ip);
}

static void accept_resume(void *data)
{
	loop_timer_stop(&accept_pause);
	if (stopped)
		return;
	for (int i = 0; i < n_listeners; i++)
		loop_io_start(&listeners[i]);
}

static void accept_cb(void *data, int events)
{
	struct loop_io *l = data;
	int lfd = l->w.fd;
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: stop accepting for a moment instead of spinning. */
				log_warn("accept: %s; pausing accepts for 1 s", strerror(errno));
				for (int j = 0; j < n_listeners; j++)
					loop_io_stop(&listeners[j]);
				loop_timer_again(&accept_pause, 1.0);
			}
			return;
		}
		accept_one(fd, &ss);
	}
}

/* ---- listening ---------------------------------------------------------------- */

/* "host:port" or "[v6]:port" into ss; 0 or -1. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec)
		return -1;
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	int64_t p;
	if (parse_int64(colon + 1, 1, 65535, &p) != 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*sl = sizeof(*s6);
	} else {
		return -1;
	}
	return 0;
}

static int listen_one(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_listen(spec, &ss, &sl) != 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 4096) != 0) {
		log_error("listen %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	if (n_listeners >= MAX_LISTENERS) {
		close(fd);
		return -1;
	}
	struct loop_io *l = &listeners[n_listeners++];
	loop_io_init(l, fd, LOOP_READ, accept_cb, l);
	loop_io_start(l);
	log_info("listening on %s", spec);
	return 0;
}

int conn_listen(const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL;
	int rc = 0, n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (listen_one(tok) != 0) {
			log_error("cannot listen on '%s'", tok);
			rc = -1;
		}
		n++;
	}
	free(copy);
	return n ? rc : -1;
}

void listener_init(void)
{
	loop_timer_init(&accept_pause, accept_resume, NULL);
}

/* Shutdown: close the listening sockets (accepts stay off). */
void listener_stop(void)
{
	stopped = 1;
	for (int i = 0; i < n_listeners; i++) {
		loop_io_stop(&listeners[i]);
		close(listeners[i].w.fd);
	}
	n_listeners = 0;
}
