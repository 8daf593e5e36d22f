/* SPDX-License-Identifier: MIT */
/* pollers: N visitors, each polling GET every PERIOD ms on its own keep-alive connection,
 * open loop (bench/rest/compare.py, capacity figure A; never part of pass/fail).
 *
 *   pollers -n N [-p PERIOD_MS] [-w WARMUP_S] [-d DURATION_S] [-t TIMEOUT_MS]
 *           [-c CONNECTS_PER_S] HOST PORT TARGETS_FILE
 *
 * TARGETS_FILE: one request target a line, "PATH<TAB>HEADER" (HEADER optional, e.g.
 * "X-Visitor-Token: abc"); visitor i uses line i % lines.
 *
 * Each visitor opens one connection (paced at CONNECTS_PER_S), then sends at T0 + phase +
 * k * PERIOD, phase uniform in [0, PERIOD): the offered load is N / PERIOD whatever the
 * server's latency (no coordinated omission). A request that is due while the previous one
 * is still unanswered waits for it, and its latency counts from the time it was due. A
 * connection the server closed is reopened when the next request is due (the connect time
 * counts). Requests due in [T0 + WARMUP, T0 + WARMUP + DURATION) are measured; those still
 * unanswered TIMEOUT ms after the window are errors. Prints one JSON line.
 *
 * gcc -O2 -o pollers pollers.c (Linux: epoll)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CLOSED, ST_CONNECTING, ST_IDLE, ST_BUSY };
enum { P_HDR, P_BODY, P_CSIZE, P_CDATA, P_CCRLF, P_TRAILER };

typedef struct {
    int fd, state, target, heap_idx;
    int64_t due;          /* next scheduled request */
    int64_t sched;        /* the in-flight request was due at */
    int64_t started;      /* connect or send started (timeouts) */
    int pending;          /* a due request waits for this connection */
    int64_t pending_sched;
    int record;           /* the in-flight request is measured */
    size_t woff;
    /* response parser */
    int ps, status, close_after, chunked;
    long remain;
    size_t blen;
    char buf[2048];
} conn;

static conn *C;
static int N;
static int *heap;        /* indexes into C, min-heap by due */
static int heap_n;
static char **req;       /* request text per target */
static size_t *req_len;
static int ntargets;
static struct sockaddr_in addr;
static int ep;

static int64_t wstart, wend;
static int64_t *lat;     /* measured latencies, ns */
static size_t nlat, caplat;
static long st_ok, st_non2xx, st_conn_err, st_closed, st_timeout, st_dropped, st_reconnects, st_sent;
static long st_late, st_unanswered;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void hswap(int a, int b)
{
    int t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    C[heap[a]].heap_idx = a;
    C[heap[b]].heap_idx = b;
}
static void hup(int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (C[heap[p]].due <= C[heap[i]].due)
            break;
        hswap(i, p);
        i = p;
    }
}
static void hdown(int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_n && C[heap[l]].due < C[heap[m]].due)
            m = l;
        if (r < heap_n && C[heap[r]].due < C[heap[m]].due)
            m = r;
        if (m == i)
            break;
        hswap(i, m);
        i = m;
    }
}

static void add_lat(int64_t v)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) {
            perror("realloc");
            exit(2);
        }
    }
    lat[nlat++] = v;
}

static int in_window(int64_t t) { return t >= wstart && t < wend; }

static void close_conn(conn *c)
{
    if (c->fd >= 0) {
        struct linger lg = { 1, 0 }; /* RST: no TIME_WAIT pile-up between steps */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c->fd);
    }
    c->fd = -1;
    c->state = ST_CLOSED;
}

static void start_connect(conn *c, int64_t t)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        st_conn_err++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->started = t;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        close(fd);
        c->fd = -1;
        st_conn_err++;
        return;
    }
    c->state = ST_CONNECTING;
    struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(c - C) };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void fail_inflight(conn *c)
{
    if (c->state == ST_BUSY && c->record)
        st_closed++;
}

static void fail_pending(conn *c)
{
    if (c->pending && in_window(c->pending_sched))
        st_conn_err++;
    c->pending = 0;
}

static void want(conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)(c - C) };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void do_write(conn *c)
{
    const char *r = req[c->target];
    size_t len = req_len[c->target];
    while (c->woff < len) {
        ssize_t w = send(c->fd, r + c->woff, len - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) {
                want(c, EPOLLIN | EPOLLOUT);
                return;
            }
            fail_inflight(c);
            close_conn(c);
            return;
        }
        c->woff += (size_t)w;
    }
    want(c, EPOLLIN);
}

static void send_req(conn *c, int64_t sched, int64_t t)
{
    c->state = ST_BUSY;
    c->sched = sched;
    c->started = t;
    c->record = in_window(sched);
    c->woff = 0;
    c->ps = P_HDR;
    c->blen = 0;
    c->status = 0;
    c->close_after = 0;
    c->chunked = 0;
    c->remain = 0;
    if (t - sched > 5000000LL)
        st_late++;
    st_sent++;
    do_write(c);
}

/* a due request on connection c at time t (sched = when it was due) */
static void due_request(conn *c, int64_t sched, int64_t t)
{
    switch (c->state) {
    case ST_IDLE:
        send_req(c, sched, t);
        break;
    case ST_CLOSED:
        st_reconnects++;
        c->pending = 1;
        c->pending_sched = sched;
        start_connect(c, t);
        if (c->state == ST_CLOSED)
            fail_pending(c);
        break;
    default: /* connecting or busy: wait for it */
        if (c->pending) {
            if (in_window(c->pending_sched))
                st_dropped++;
        }
        c->pending = 1;
        c->pending_sched = sched;
    }
}

static void response_done(conn *c, int64_t t)
{
    if (c->record) {
        add_lat(t - c->sched);
        if (c->status >= 200 && c->status < 300)
            st_ok++;
        else
            st_non2xx++;
    }
    c->state = ST_IDLE;
    if (c->close_after) {
        close_conn(c);
        if (c->pending) {
            st_reconnects++;
            start_connect(c, t);
            if (c->state == ST_CLOSED)
                fail_pending(c);
        }
        return;
    }
    if (c->pending) {
        c->pending = 0;
        send_req(c, c->pending_sched, t);
    }
}

/* parse what is in c->buf; returns 1 when a response completed, -1 on a protocol error */
static int parse(conn *c, int64_t t)
{
    size_t pos = 0;
    for (;;) {
        if (c->ps == P_HDR || c->ps == P_CSIZE || c->ps == P_TRAILER || c->ps == P_CCRLF) {
            /* line-oriented states */
            if (c->ps == P_HDR) {
                char *e = memmem(c->buf + pos, c->blen - pos, "\r\n\r\n", 4);
                if (!e)
                    break;
                *e = 0;
                char *h = c->buf + pos;
                if (strncmp(h, "HTTP/1.", 7) != 0)
                    return -1;
                c->status = atoi(h + 9);
                c->remain = 0;
                int has_len = 0;
                for (char *line = strstr(h, "\r\n"); line; line = strstr(line, "\r\n")) {
                    line += 2;
                    if (!strncasecmp(line, "content-length:", 15)) {
                        c->remain = atol(line + 15);
                        has_len = 1;
                    } else if (!strncasecmp(line, "transfer-encoding:", 18)) {
                        if (strcasestr(line, "chunked"))
                            c->chunked = 1;
                    } else if (!strncasecmp(line, "connection:", 11)) {
                        char *eol = strstr(line, "\r\n");
                        char *cl = strcasestr(line, "close");
                        if (cl && (!eol || cl < eol))
                            c->close_after = 1;
                    }
                }
                pos = (size_t)(e - c->buf) + 4;
                if (c->chunked)
                    c->ps = P_CSIZE;
                else if (has_len && c->remain > 0)
                    c->ps = P_BODY;
                else if (!has_len && c->status != 204 && c->status != 304)
                    return -1; /* body until close: not expected here */
                else
                    goto done;
            } else if (c->ps == P_CSIZE) {
                char *e = memmem(c->buf + pos, c->blen - pos, "\r\n", 2);
                if (!e)
                    break;
                c->remain = strtol(c->buf + pos, NULL, 16);
                pos = (size_t)(e - c->buf) + 2;
                c->ps = c->remain ? P_CDATA : P_TRAILER;
            } else if (c->ps == P_CCRLF) {
                if (c->blen - pos < 2)
                    break;
                pos += 2;
                c->ps = P_CSIZE;
            } else { /* P_TRAILER: lines until an empty one */
                char *e = memmem(c->buf + pos, c->blen - pos, "\r\n", 2);
                if (!e)
                    break;
                int empty = (e == c->buf + pos);
                pos = (size_t)(e - c->buf) + 2;
                if (empty)
                    goto done;
            }
        } else { /* P_BODY, P_CDATA: skip remain bytes */
            size_t have = c->blen - pos;
            if (have == 0)
                break;
            size_t take = have < (size_t)c->remain ? have : (size_t)c->remain;
            pos += take;
            c->remain -= (long)take;
            if (c->remain > 0)
                break;
            if (c->ps == P_BODY)
                goto done;
            c->ps = P_CCRLF;
        }
    }
    memmove(c->buf, c->buf + pos, c->blen - pos);
    c->blen -= pos;
    if (c->blen == sizeof c->buf)
        return -1; /* a header line longer than the buffer */
    return 0;
done:
    if (c->blen > pos)
        return -1; /* bytes after the response: no pipelining here */
    c->blen = 0;
    response_done(c, t);
    return 1;
}

static void on_readable(conn *c, int64_t t)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->blen, sizeof c->buf - c->blen, 0);
        if (r < 0) {
            if (errno == EAGAIN)
                return;
            r = 0;
        }
        if (r == 0) { /* closed by the server */
            if (c->state == ST_BUSY) {
                fail_inflight(c);
            }
            int pending = c->pending;
            close_conn(c);
            if (pending) {
                st_reconnects++;
                start_connect(c, t);
                if (c->state == ST_CLOSED)
                    fail_pending(c);
            }
            return;
        }
        if (c->state != ST_BUSY) { /* unsolicited bytes */
            close_conn(c);
            return;
        }
        c->blen += (size_t)r;
        int rc = parse(c, t);
        if (rc < 0) {
            if (c->record)
                st_closed++;
            close_conn(c);
            return;
        }
        if (rc == 1 || c->state != ST_BUSY)
            return;
    }
}

static void on_connected(conn *c, int64_t t)
{
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        st_conn_err += !c->pending; /* a pending measured request is counted below */
        close_conn(c);
        fail_pending(c);
        return;
    }
    c->state = ST_IDLE;
    want(c, EPOLLIN);
    if (c->pending) {
        c->pending = 0;
        send_req(c, c->pending_sched, t);
    }
}

static void check_timeouts(int64_t t, int64_t timeout)
{
    for (int i = 0; i < N; i++) {
        conn *c = &C[i];
        if ((c->state == ST_BUSY || c->state == ST_CONNECTING) && t - c->started > timeout) {
            if (c->state == ST_BUSY && c->record)
                st_timeout++;
            if (c->pending && in_window(c->pending_sched))
                st_timeout++;
            c->pending = 0;
            close_conn(c);
        }
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q)
{
    if (!nlat)
        return -1;
    size_t i = (size_t)(q * (double)nlat);
    if (i >= nlat)
        i = nlat - 1;
    return (double)lat[i] / 1e6;
}

static void run_until(int64_t until, int sending, int64_t timeout, int64_t period)
{
    struct epoll_event evs[512];
    int64_t last_check = now_ns();
    for (;;) {
        int64_t t = now_ns();
        if (t >= until)
            return;
        if (!sending) {
            int busy = 0;
            for (int i = 0; i < N && !busy; i++)
                busy = (C[i].state == ST_BUSY && C[i].record) ||
                       (C[i].pending && in_window(C[i].pending_sched));
            if (!busy)
                return;
        }
        while (sending && heap_n && C[heap[0]].due <= t) {
            conn *c = &C[heap[0]];
            int64_t d = c->due;
            c->due += period;
            hdown(0);
            if (d < wend)
                due_request(c, d, t);
        }
        int64_t wait = until - t;
        if (sending && heap_n && C[heap[0]].due - t < wait)
            wait = C[heap[0]].due - t;
        int ms = (int)((wait + 999999) / 1000000);
        if (ms > 50)
            ms = 50;
        int n = epoll_wait(ep, evs, 512, ms);
        t = now_ns();
        for (int k = 0; k < n; k++) {
            conn *c = &C[evs[k].data.u32];
            if (c->fd < 0)
                continue;
            if (c->state == ST_CONNECTING) {
                on_connected(c, t);
                continue;
            }
            if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c, t);
            if (c->fd >= 0 && c->state == ST_BUSY && (evs[k].events & EPOLLOUT))
                do_write(c);
        }
        if (t - last_check > 100000000LL) {
            check_timeouts(t, timeout);
            last_check = t;
        }
    }
}

int main(int argc, char **argv)
{
    int period_ms = 3000, warm_s = 3, dur_s = 10, timeout_ms = 5000, cps = 4000, opt;
    while ((opt = getopt(argc, argv, "n:p:w:d:t:c:")) != -1) {
        switch (opt) {
        case 'n': N = atoi(optarg); break;
        case 'p': period_ms = atoi(optarg); break;
        case 'w': warm_s = atoi(optarg); break;
        case 'd': dur_s = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        case 'c': cps = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: pollers -n N [-p ms] [-w s] [-d s] [-t ms] [-c conn/s] HOST PORT TARGETS\n");
            return 2;
        }
    }
    if (N <= 0 || argc - optind != 3) {
        fprintf(stderr, "usage: pollers -n N [-p ms] [-w s] [-d s] [-t ms] [-c conn/s] HOST PORT TARGETS\n");
        return 2;
    }
    const char *host = argv[optind];
    int port = atoi(argv[optind + 1]);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "pollers: HOST must be an IPv4 address\n");
        return 2;
    }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)N + 64 > rl.rlim_cur) {
        fprintf(stderr, "pollers: %d connections need more than the open-file limit %lu\n", N,
                (unsigned long)rl.rlim_cur);
        return 2;
    }

    FILE *f = fopen(argv[optind + 2], "r");
    if (!f) {
        perror(argv[optind + 2]);
        return 2;
    }
    char line[4096];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line)
            continue;
        char *hdr = strchr(line, '\t');
        if (hdr)
            *hdr++ = 0;
        if (ntargets == cap) {
            cap = cap ? cap * 2 : 64;
            req = realloc(req, cap * sizeof *req);
            req_len = realloc(req_len, cap * sizeof *req_len);
        }
        char *r = NULL;
        int len = asprintf(&r, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: pollers\r\nAccept: */*\r\n%s%s\r\n",
                           line, host, port, hdr && *hdr ? hdr : "", hdr && *hdr ? "\r\n" : "");
        if (len < 0)
            return 2;
        req[ntargets] = r;
        req_len[ntargets++] = (size_t)len;
    }
    fclose(f);
    if (!ntargets) {
        fprintf(stderr, "pollers: no targets\n");
        return 2;
    }

    C = calloc((size_t)N, sizeof *C);
    heap = calloc((size_t)N, sizeof *heap);
    ep = epoll_create1(EPOLL_CLOEXEC);
    srandom((unsigned)now_ns());
    int64_t period = (int64_t)period_ms * 1000000LL;
    int64_t timeout = (int64_t)timeout_ms * 1000000LL;

    /* connect everybody, paced */
    wstart = wend = INT64_MAX; /* nothing measured yet */
    int64_t t0 = now_ns();
    for (int i = 0; i < N; i++) {
        C[i].fd = -1;
        C[i].target = i % ntargets;
        C[i].due = INT64_MAX;
    }
    int opened = 0;
    struct epoll_event evs[512];
    int64_t connect_deadline = t0 + (int64_t)N * 1000000000LL / cps + 10000000000LL;
    for (;;) {
        int64_t t = now_ns();
        int64_t should = (t - t0) * cps / 1000000000LL + 1;
        while (opened < N && opened < should)
            start_connect(&C[opened++], t);
        int connecting = 0, up = 0;
        for (int i = 0; i < opened; i++) {
            connecting += C[i].state == ST_CONNECTING;
            up += C[i].state == ST_IDLE;
        }
        if (opened == N && connecting == 0)
            break;
        if (t > connect_deadline)
            break;
        int n = epoll_wait(ep, evs, 512, 5);
        t = now_ns();
        for (int k = 0; k < n; k++) {
            conn *c = &C[evs[k].data.u32];
            if (c->state == ST_CONNECTING)
                on_connected(c, t);
            else if (c->fd >= 0 && (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                on_readable(c, t); /* closed by the server while idle */
        }
    }
    int connected = 0;
    for (int i = 0; i < N; i++)
        connected += C[i].state == ST_IDLE;
    long connect_errors_at_start = st_conn_err;
    double connect_s = (double)(now_ns() - t0) / 1e9;

    /* the schedule */
    int64_t T0 = now_ns();
    wstart = T0 + (int64_t)warm_s * 1000000000LL;
    wend = wstart + (int64_t)dur_s * 1000000000LL;
    for (int i = 0; i < N; i++) {
        C[i].due = T0 + (int64_t)((double)random() / ((double)RAND_MAX + 1.0) * (double)period);
        C[i].heap_idx = heap_n;
        heap[heap_n++] = i;
        hup(heap_n - 1);
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    run_until(wend, 1, timeout, period);
    getrusage(RUSAGE_SELF, &ru1);
    /* answers to measured requests, up to timeout after the window */
    run_until(now_ns() + timeout + 200000000LL, 0, timeout, period);
    for (int i = 0; i < N; i++) {
        if (C[i].state == ST_BUSY && C[i].record)
            st_unanswered++;
        if (C[i].pending && in_window(C[i].pending_sched))
            st_unanswered++;
    }
    for (int i = 0; i < N; i++)
        close_conn(&C[i]);

    qsort(lat, nlat, sizeof *lat, cmp64);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double span = (double)(warm_s + dur_s);
    long errors = st_non2xx + st_conn_err - connect_errors_at_start + st_closed + st_timeout + st_dropped + st_unanswered;
    printf("{\"n\": %d, \"period_ms\": %d, \"connected\": %d, \"connect_errors_at_start\": %ld, \"connect_s\": %.2f, "
           "\"measured_s\": %d, \"answered\": %zu, \"ok\": %ld, \"non2xx\": %ld, \"conn_errors\": %ld, "
           "\"closed\": %ld, \"timeouts\": %ld, \"dropped\": %ld, \"unanswered\": %ld, \"errors\": %ld, "
           "\"late_sends\": %ld, \"reconnects\": %ld, \"rate\": %.1f, "
           "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f, \"gen_cpu\": %.3f}\n",
           N, period_ms, connected, connect_errors_at_start, connect_s, dur_s, nlat, st_ok, st_non2xx,
           st_conn_err - connect_errors_at_start, st_closed, st_timeout, st_dropped, st_unanswered, errors,
           st_late, st_reconnects, (double)nlat / dur_s, pct(0.5), pct(0.9), pct(0.99),
           nlat ? (double)lat[nlat - 1] / 1e6 : -1.0, cpu / span);
    return 0;
}
