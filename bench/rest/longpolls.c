/* SPDX-License-Identifier: MIT */
/* longpolls: N operator long-polls held on one dialog, then one post wakes them: how many
 * answer with the post's message and how fast (bench/rest/compare.py, capacity figure B; it
 * prints figures, never pass/fail).
 *
 *   longpolls [-w WAIT_S] [-b BATCH] [-g GAP_MS] [-s SETTLE_MS] [-P PATH_PREFIX] [-p]
 *             HOST PORT TOKEN DIALOG N
 *
 * The same steps as $REF_DIR/longpoll_capacity.mjs (node), without node's own cost per
 * response (undici, promises), which dominated its wake-up figures:
 *   1. GET PREFIX/api/dialogs/DIALOG/messages (Authorization: Bearer TOKEN): SEQ = the largest
 *      "seq" in the answer (0 when there is none).
 *   2. N connections, each sending GET .../messages?after=SEQ&wait=WAIT_S (default 25), opened
 *      BATCH at a time (100) with GAP_MS (20) between batches, as the node script does.
 *   3. SETTLE_MS (3000) after the last of them was sent: one ordinary GET of the history on a
 *      fresh connection, timed (connect to complete answer); then t0, and one POST
 *      {"text":"wake up"} on another fresh connection.
 *   4. Every long-poll's answer is read to its end (Content-Length, chunked, or until close):
 *      woke = 200 with a non-empty JSON array (its wake time: completion - t0), empty = 200
 *      with [], error = anything else (connect error, closed or reset, not HTTP, another
 *      status, no answer WAIT_S + 10 s after its connect).
 *   5. One line, in the node script's format, then the generator's own figures:
 *        n N: post S; woke W, empty E, errors X; wake ms p50 A p99 B max C; ordinary GET
 *        while waiting: S in T ms; client: N sent in T s, CPU T s (T s from the post on),
 *        POLICY
 *
 * The generator runs as SCHED_BATCH (-p: as an ordinary process instead). It shares this
 * machine's cores with the servers it measures, and an ordinary process that sleeps in
 * epoll_wait preempts the web server at each answer it is woken for (the scheduler
 * favours a task that slept): 8,000 answers in a burst then cost lighttpd thousands of
 * involuntary context switches (about 4,000 per worker, measured with
 * /proc/PID/status), work no client on another machine, the real case, causes. A
 * SCHED_BATCH task is never woken ahead of the running one; it still gets its fair
 * share of the CPU, so it reads each answer at the next turn of the scheduler, later
 * than an ordinary process would (which can only make its wake-up figures larger). The
 * line below says which policy ran.
 *
 * HTTP/1.1, keep-alive (Connection: keep-alive, as undici sends it); each connection carries
 * one request. A long-poll answered in full stays open and idle, as undici keeps it in its
 * pool (a browser likewise), until the run's end; then every connection is reset
 * (SO_LINGER 0, as pollers.c does): no TIME_WAIT left on the client's ports between runs.
 * (Resetting each one as its answer came made the web server handle 8,000 resets in the
 * middle of the wake-up it measures, work no real client population causes there.) One thread, epoll, libc only. Exit status 0 when the run got
 * to its end (errors included), 1 when it could not (history GET failed), 2 on bad usage.
 *
 * gcc -O2 -Wall -Wextra -o longpolls longpolls.c (Linux: epoll)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER (64 * 1024)
#define MAX_BODY (16 * 1024 * 1024)

enum { S_NEW, S_CONNECTING, S_SENDING, S_READING, S_DONE };
enum { F_NONE, F_LENGTH, F_CHUNKED, F_CLOSE };            /* how the body ends */
enum { CS_SIZE, CS_DATA, CS_CRLF, CS_TRAILER };             /* chunked decoder */
enum { O_OK, O_CONNECT, O_CLOSED, O_TIMEOUT, O_PROTO };     /* how a connection ended */
enum { R_WOKE, R_EMPTY, R_ERR_CONNECT, R_ERR_CLOSED, R_ERR_TIMEOUT, R_ERR_PROTO, R_ERR_STATUS,
       R_ERR_BODY, R_COUNT };

typedef struct {
    int fd, state, outcome, result, is_poll;
    int idle_fd;          /* a long-poll answered in full: kept open, idle, until the end */
    const char *req;
    size_t req_len, woff;
    char *buf;            /* raw answer; a chunked body is decoded in place after the headers */
    size_t len, cap, scan;
    size_t hdr_end;       /* 0 until the header block is complete */
    int status, framing, cs;
    size_t clen, cpos, crem, body_len;
    int64_t started, deadline, sent_at, done_at;
} conn;

static conn *C;
static int nconn, npolls, polls_open, polls_unsent;
static int ep = -1;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static int64_t timeout_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "longpolls: out of memory\n");
        exit(1);
    }
    return q;
}

static const char *body(const conn *c) { return c->buf ? c->buf + c->hdr_end : ""; }

/* woke / empty / which error, from how the connection ended and what it answered */
static int classify(const conn *c)
{
    switch (c->outcome) {
    case O_CONNECT: return R_ERR_CONNECT;
    case O_CLOSED: return R_ERR_CLOSED;
    case O_TIMEOUT: return R_ERR_TIMEOUT;
    case O_PROTO: return R_ERR_PROTO;
    }
    if (c->status != 200)
        return R_ERR_STATUS;
    const char *b = body(c), *e = b + c->body_len;
    while (b < e && strchr(" \t\r\n", *b))
        b++;
    if (b == e || *b != '[')
        return R_ERR_BODY;
    for (b++; b < e && strchr(" \t\r\n", *b); b++)
        ;
    if (b == e)
        return R_ERR_BODY;
    return *b == ']' ? R_EMPTY : R_WOKE;
}

static void reset_close(int fd)
{
    struct linger lg = { 1, 0 }; /* RST: no TIME_WAIT on our ports */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd); /* leaves the epoll set with it */
}

static void finish(conn *c, int outcome, int64_t t)
{
    if (c->state == S_DONE)
        return;
    if (c->fd >= 0 && c->is_poll && outcome == O_OK) {
        /* As undici keeps an answered keep-alive connection in its pool: idle and open.
         * It stays in the epoll set (no system call per answer): its next event is the
         * server closing it, and then it is closed here too (run()). */
        c->idle_fd = c->fd;
        c->fd = -1;
    } else if (c->fd >= 0) {
        reset_close(c->fd);
        c->fd = -1;
    }
    if (c->state < S_READING && c->is_poll)
        polls_unsent--;
    c->state = S_DONE;
    c->outcome = outcome;
    c->done_at = t;
    if (c->is_poll) {
        c->result = classify(c);
        free(c->buf); /* the body was only needed for the verdict */
        c->buf = NULL;
        c->len = c->cap = 0;
        polls_open--;
    }
}

static void want(conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)(c - C) };
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        perror("longpolls: epoll_ctl");
        exit(1);
    }
}

static void do_write(conn *c, int64_t t)
{
    while (c->woff < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->woff, c->req_len - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* EPOLLOUT is still wanted */
            finish(c, O_CLOSED, t);
            return;
        }
        c->woff += (size_t)w;
    }
    c->state = S_READING;
    c->sent_at = t;
    if (c->is_poll)
        polls_unsent--;
    want(c, EPOLLIN);
}

static void start(conn *c, const char *req, size_t req_len, int64_t t)
{
    c->req = req;
    c->req_len = req_len;
    c->started = t;
    c->deadline = t + timeout_ns;
    c->state = S_CONNECTING;
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        finish(c, O_CONNECT, t);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* EINTR: the connection goes on asynchronously, as EINPROGRESS */
    if (connect(c->fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS && errno != EINTR) {
        finish(c, O_CONNECT, t);
        return;
    }
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)(c - C) };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        perror("longpolls: epoll_ctl");
        exit(1);
    }
}

/* the header block buf[0, hdr_end): status, framing; 0 ok, -1 not HTTP */
static int parse_head(conn *c)
{
    char *h = c->buf, *end = c->buf + c->hdr_end - 2; /* up to the last header's CRLF */
    if (c->hdr_end < 14 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ')
        return -1;
    c->status = 0;
    for (int i = 9; i < 12; i++) {
        if (h[i] < '0' || h[i] > '9')
            return -1;
        c->status = c->status * 10 + (h[i] - '0');
    }
    int has_len = 0, chunked = 0;
    char *line = memmem(h, (size_t)(end - h), "\r\n", 2);
    while (line && line + 2 < end) {
        line += 2;
        char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        size_t ll = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (ll > 15 && !strncasecmp(line, "content-length:", 15)) {
            char *p = line + 15, *q = line + ll;
            while (p < q && (*p == ' ' || *p == '\t'))
                p++;
            size_t v = 0;
            int digits = 0;
            for (; p < q && *p >= '0' && *p <= '9'; p++, digits++) {
                v = v * 10 + (size_t)(*p - '0');
                if (v > MAX_BODY)
                    return -1;
            }
            while (p < q && (*p == ' ' || *p == '\t'))
                p++;
            if (!digits || p != q || (has_len && v != c->clen))
                return -1;
            c->clen = v;
            has_len = 1;
        } else if (ll > 18 && !strncasecmp(line, "transfer-encoding:", 18)) {
            if (memmem(line, ll, "chunked", 7) || memmem(line, ll, "CHUNKED", 7))
                chunked = 1;
        }
        line = eol;
    }
    if ((c->status >= 100 && c->status < 200) || c->status == 204 || c->status == 304)
        c->framing = F_NONE;
    else if (chunked)
        c->framing = F_CHUNKED;
    else if (has_len)
        c->framing = F_LENGTH;
    else
        c->framing = F_CLOSE;
    return 0;
}

/* chunked body: decoded in place to buf[hdr_end, hdr_end + body_len); 1 complete, 0 more, -1 bad */
static int dechunk(conn *c)
{
    for (;;) {
        switch (c->cs) {
        case CS_SIZE: {
            char *eol = memmem(c->buf + c->cpos, c->len - c->cpos, "\r\n", 2);
            if (!eol)
                return c->len - c->cpos > 1024 ? -1 : 0;
            char *p = c->buf + c->cpos;
            size_t v = 0;
            int digits = 0;
            for (; p < eol; p++, digits++) {
                int d = (*p >= '0' && *p <= '9') ? *p - '0'
                        : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                        : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
                if (d < 0)
                    break;
                v = v * 16 + (size_t)d;
                if (v > MAX_BODY)
                    return -1;
            }
            if (!digits || (p < eol && *p != ';' && *p != ' ' && *p != '\t'))
                return -1;
            if (c->body_len + v > MAX_BODY)
                return -1;
            c->crem = v;
            c->cpos = (size_t)(eol - c->buf) + 2;
            c->cs = v ? CS_DATA : CS_TRAILER;
            break;
        }
        case CS_DATA: {
            size_t have = c->len - c->cpos, take = have < c->crem ? have : c->crem;
            if (!take)
                return 0;
            memmove(c->buf + c->hdr_end + c->body_len, c->buf + c->cpos, take);
            c->body_len += take;
            c->cpos += take;
            c->crem -= take;
            if (!c->crem)
                c->cs = CS_CRLF;
            break;
        }
        case CS_CRLF:
            if (c->len - c->cpos < 2)
                return 0;
            if (c->buf[c->cpos] != '\r' || c->buf[c->cpos + 1] != '\n')
                return -1;
            c->cpos += 2;
            c->cs = CS_SIZE;
            break;
        default: { /* CS_TRAILER: header lines up to an empty one */
            char *eol = memmem(c->buf + c->cpos, c->len - c->cpos, "\r\n", 2);
            if (!eol)
                return c->len - c->cpos > MAX_HEADER ? -1 : 0;
            int empty = eol == c->buf + c->cpos;
            c->cpos = (size_t)(eol - c->buf) + 2;
            if (empty)
                return 1;
        }
        }
    }
}

/* what has arrived so far: 1 the answer is complete, 0 more to come, -1 not HTTP */
static int progress(conn *c)
{
    while (!c->hdr_end) {
        char *e = memmem(c->buf + c->scan, c->len - c->scan, "\r\n\r\n", 4);
        if (!e) {
            c->scan = c->len > 3 ? c->len - 3 : 0;
            return c->len > MAX_HEADER ? -1 : 0;
        }
        c->hdr_end = (size_t)(e - c->buf) + 4;
        if (parse_head(c) < 0)
            return -1;
        if (c->status < 200) { /* 100 Continue and the like: drop it, the answer follows */
            memmove(c->buf, c->buf + c->hdr_end, c->len - c->hdr_end);
            c->len -= c->hdr_end;
            c->hdr_end = c->scan = 0;
            continue;
        }
        c->cpos = c->hdr_end;
        c->cs = CS_SIZE;
        c->body_len = 0;
    }
    switch (c->framing) {
    case F_NONE:
        return 1;
    case F_LENGTH:
        if (c->len - c->hdr_end < c->clen)
            return 0;
        c->body_len = c->clen;
        return 1;
    case F_CHUNKED:
        return dechunk(c);
    default: /* F_CLOSE: ends at EOF */
        c->body_len = c->len - c->hdr_end;
        return 0;
    }
}

static void do_read(conn *c, int64_t t)
{
    for (;;) {
        if (c->cap - c->len < 2048) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->buf = xrealloc(c->buf, c->cap + 1); /* + 1: a NUL after the data */
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            finish(c, O_CLOSED, t); /* reset */
            return;
        }
        if (r == 0) { /* the server closed */
            if (c->hdr_end && c->framing == F_CLOSE) {
                c->body_len = c->len - c->hdr_end;
                c->buf[c->len] = 0;
                finish(c, O_OK, t);
            } else {
                finish(c, O_CLOSED, t);
            }
            return;
        }
        c->len += (size_t)r;
        if (c->len > MAX_HEADER + MAX_BODY + 4096) {
            finish(c, O_PROTO, t);
            return;
        }
        int rc = progress(c);
        if (rc) {
            if (rc > 0)
                c->buf[c->hdr_end + c->body_len] = 0;
            finish(c, rc > 0 ? O_OK : O_PROTO, t);
            return;
        }
    }
}

static void on_event(conn *c, uint32_t events, int64_t t)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
            err = errno;
        if (err) {
            finish(c, O_CONNECT, t);
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        c->state = S_SENDING;
    }
    if (c->state == S_SENDING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        do_write(c, t);
    /* an answer may come before the request is all written (an early 4xx): read it too */
    if ((c->state == S_SENDING || c->state == S_READING) && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        do_read(c, t);
}

static void check_timeouts(int64_t t)
{
    for (int i = 0; i < nconn; i++)
        if (C[i].state != S_NEW && C[i].state != S_DONE && t >= C[i].deadline)
            finish(&C[i], O_TIMEOUT, t);
}

/* run the loop until done() holds or the clock reaches until */
static void run(int (*done)(void), int64_t until)
{
    struct epoll_event evs[512];
    int64_t last_check = now_ns();
    for (;;) {
        int64_t t = now_ns();
        if ((done && done()) || t >= until)
            return;
        int64_t wait = until - t;
        if (wait > 20000000LL)
            wait = 20000000LL; /* timeouts are checked every 20..100 ms */
        int n = epoll_wait(ep, evs, 512, (int)((wait + 999999) / 1000000));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("longpolls: epoll_wait");
            exit(1);
        }
        for (int k = 0; k < n; k++) {
            conn *c = &C[evs[k].data.u32];
            t = now_ns(); /* each answer's own time, not its batch's */
            if (c->state != S_DONE && c->fd >= 0) {
                on_event(c, evs[k].events, t);
            } else if (c->idle_fd >= 0) {
                reset_close(c->idle_fd); /* the server closed an idle one */
                c->idle_fd = -1;
            }
        }
        if (t - last_check >= 100000000LL) {
            check_timeouts(t);
            last_check = t;
        }
    }
}

static conn *watched;
static int watched_done(void) { return watched->state == S_DONE; }
static int polls_sent(void) { return polls_unsent == 0; }
static int all_done(void) { return polls_open == 0 && watched->state == S_DONE; }

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* the largest "seq": number in a JSON text (0 when there is none) */
static long long max_seq(const char *s)
{
    long long best = 0;
    for (const char *p = strstr(s, "\"seq\""); p; p = strstr(p, "\"seq\"")) {
        p += 5;
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
            q++;
        if (*q != ':')
            continue;
        q++;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
            q++;
        if (*q < '0' || *q > '9')
            continue;
        long long v = strtoll(q, NULL, 10);
        if (v > best)
            best = v;
    }
    return best;
}

static int clean(const char *s, const char *bad)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f || strchr(bad, *s))
            return 0;
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: longpolls [-w WAIT_S] [-b BATCH] [-g GAP_MS] [-s SETTLE_MS] [-P PATH_PREFIX] [-p] "
                    "HOST PORT TOKEN DIALOG N\n");
    exit(2);
}

static char *xasprintf(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xasprintf(size_t *len, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "longpolls: out of memory\n");
        exit(1);
    }
    if (len)
        *len = (size_t)n;
    return s;
}

static int posint(const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    long wait_s = 25, batch = 100, gap_ms = 20, settle_ms = 3000, v;
    const char *prefix = "";
    int opt, batch_policy = 1;
    while ((opt = getopt(argc, argv, "w:b:g:s:P:ph")) != -1) {
        switch (opt) {
        case 'w': if (!posint(optarg, 0, 3600, &wait_s)) usage(); break;
        case 'b': if (!posint(optarg, 1, 1000000, &batch)) usage(); break;
        case 'g': if (!posint(optarg, 0, 60000, &gap_ms)) usage(); break;
        case 's': if (!posint(optarg, 0, 600000, &settle_ms)) usage(); break;
        case 'P': prefix = optarg; break;
        case 'p': batch_policy = 0; break;
        default: usage();
        }
    }
    if (argc - optind != 5)
        usage();
    const char *host = argv[optind], *port = argv[optind + 1], *token = argv[optind + 2],
               *dialog = argv[optind + 3];
    if (!posint(argv[optind + 4], 1, 10000000, &v))
        usage();
    npolls = (int)v;
    if (!clean(token, "") || !*token || !clean(dialog, "/?#%&") || !*dialog || !clean(prefix, "?#") ||
        (*prefix && *prefix != '/') || !clean(host, "/")) {
        fprintf(stderr, "longpolls: TOKEN, DIALOG, HOST or PATH_PREFIX has a character that does not fit "
                        "(PATH_PREFIX: empty or /path)\n");
        return 2;
    }
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/')
        plen--;

    const char *policy = "ordinary process";
    if (batch_policy) {
        struct sched_param sp = { 0 };
        if (sched_setscheduler(0, SCHED_BATCH, &sp) == 0)
            policy = "SCHED_BATCH";
        else
            fprintf(stderr, "longpolls: SCHED_BATCH refused (%s): running as an ordinary process\n", strerror(errno));
    }

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai) {
        fprintf(stderr, "longpolls: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 2;
    }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    /* files: the long-polls + 3 more connections + stdio and epoll + slack */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = { rl.rlim_max, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    rlim_t need = (rlim_t)npolls + 16;
    if (need > rl.rlim_cur) {
        fprintf(stderr, "longpolls: %d long-polls need %lu open files; the limit is %lu (hard limit %lu): "
                        "lower N or raise the hard limit (ulimit -Hn)\n",
                npolls, (unsigned long)need, (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
        return 2;
    }
    FILE *pr = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (pr) {
        long lo, hi;
        if (fscanf(pr, "%ld %ld", &lo, &hi) == 2 && npolls + 3 > hi - lo + 1) {
            fprintf(stderr, "longpolls: %d connections to one address need more local ports than "
                            "ip_local_port_range offers (%ld)\n", npolls + 3, hi - lo + 1);
            fclose(pr);
            return 2;
        }
        fclose(pr);
    }

    double cpu_start = cpu_s();
    timeout_ns = (wait_s + 10) * 1000000000LL;
    nconn = npolls + 3;
    C = calloc((size_t)nconn, sizeof *C);
    if (!C) {
        fprintf(stderr, "longpolls: out of memory\n");
        return 1;
    }
    for (int i = 0; i < nconn; i++) {
        C[i].fd = C[i].idle_fd = -1;
        C[i].is_poll = i < npolls;
    }
    conn *hist = &C[npolls], *get = &C[npolls + 1], *post = &C[npolls + 2];
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("longpolls: epoll_create1");
        return 1;
    }
    const char *br = strchr(host, ':') ? "[" : "", *bl = *br ? "]" : "";
    size_t get_len, poll_len, post_len;
    char *get_req = xasprintf(&get_len,
                              "GET %.*s/api/dialogs/%s/messages HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                              "Connection: keep-alive\r\nAuthorization: Bearer %s\r\nAccept: */*\r\n"
                              "User-Agent: longpolls\r\n\r\n",
                              (int)plen, prefix, dialog, br, host, bl, port, token);
    static const char post_body[] = "{\"text\":\"wake up\"}";
    char *post_req = xasprintf(&post_len,
                               "POST %.*s/api/dialogs/%s/messages HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                               "Connection: keep-alive\r\nAuthorization: Bearer %s\r\nAccept: */*\r\n"
                               "User-Agent: longpolls\r\nContent-Type: application/json\r\n"
                               "Content-Length: %zu\r\n\r\n%s",
                               (int)plen, prefix, dialog, br, host, bl, port, token, sizeof post_body - 1,
                               post_body);

    /* 1. the history: the cursor */
    int64_t t = now_ns();
    start(hist, get_req, get_len, t);
    watched = hist;
    run(watched_done, INT64_MAX);
    if (hist->outcome != O_OK || hist->status != 200) {
        static const char *why[] = { "", "connect failed", "closed before the answer", "timed out", "not HTTP" };
        if (hist->outcome != O_OK)
            fprintf(stderr, "longpolls: GET history: %s\n", why[hist->outcome]);
        else
            fprintf(stderr, "longpolls: GET history: status %d: %.300s\n", hist->status, body(hist));
        return 1;
    }
    long long after = max_seq(body(hist));
    free(hist->buf);
    hist->buf = NULL;

    char *poll_req = xasprintf(&poll_len,
                               "GET %.*s/api/dialogs/%s/messages?after=%lld&wait=%ld HTTP/1.1\r\n"
                               "Host: %s%s%s:%s\r\nConnection: keep-alive\r\nAuthorization: Bearer %s\r\n"
                               "Accept: */*\r\nUser-Agent: longpolls\r\n\r\n",
                               (int)plen, prefix, dialog, after, wait_s, br, host, bl, port, token);

    /* 2. the long-polls, BATCH at a time */
    int64_t t_open = now_ns();
    polls_open = polls_unsent = npolls;
    for (int i = 0; i < npolls; i++) {
        start(&C[i], poll_req, poll_len, now_ns());
        if (i % batch == batch - 1)
            run(NULL, now_ns() + gap_ms * 1000000LL);
    }
    /* 3. SETTLE after the last one was sent; the ordinary GET; t0; the post */
    run(polls_sent, INT64_MAX);
    int64_t t_sent = now_ns();
    run(NULL, t_sent + settle_ms * 1000000LL);
    start(get, get_req, get_len, now_ns());
    watched = get;
    run(watched_done, INT64_MAX);
    double cpu_t0 = cpu_s();
    int64_t t0 = now_ns();
    start(post, post_req, post_len, t0);
    /* 4. every answer */
    watched = post;
    run(all_done, INT64_MAX);
    int64_t t_end = now_ns();
    double cpu_end = cpu_s();

    /* 5. the line */
    long count[R_COUNT] = { 0 };
    int64_t *wake = calloc((size_t)npolls, sizeof *wake);
    size_t nwake = 0;
    if (!wake) {
        fprintf(stderr, "longpolls: out of memory\n");
        return 1;
    }
    int other_status = 0;
    for (int i = 0; i < npolls; i++) {
        count[C[i].result]++;
        if (C[i].result == R_ERR_STATUS && !other_status)
            other_status = C[i].status;
        if (C[i].result == R_WOKE)
            wake[nwake++] = C[i].done_at - t0;
    }
    qsort(wake, nwake, sizeof *wake, cmp64);
    char q[3][32];
    const double at[3] = { 0.5, 0.99, 1.0 };
    for (int k = 0; k < 3; k++) {
        if (!nwake) {
            strcpy(q[k], "-");
            continue;
        }
        size_t i = (size_t)((double)nwake * at[k]);
        snprintf(q[k], sizeof q[k], "%.1f", (double)wake[i < nwake ? i : nwake - 1] / 1e6);
    }
    char post_st[16] = "error", get_st[16] = "error";
    if (post->outcome == O_OK)
        snprintf(post_st, sizeof post_st, "%d", post->status);
    if (get->outcome == O_OK)
        snprintf(get_st, sizeof get_st, "%d", get->status);
    long errors = 0;
    for (int r = R_ERR_CONNECT; r < R_COUNT; r++)
        errors += count[r];
    char detail[240] = "", eg[32] = "";
    if (other_status)
        snprintf(eg, sizeof eg, " (the first: %d)", other_status);
    if (errors)
        snprintf(detail, sizeof detail,
                 " (connect %ld, closed or reset %ld, no answer in %ld s %ld, not HTTP %ld, other status %ld%s, "
                 "not a JSON array %ld)",
                 count[R_ERR_CONNECT], count[R_ERR_CLOSED], wait_s + 10, count[R_ERR_TIMEOUT], count[R_ERR_PROTO],
                 count[R_ERR_STATUS], eg, count[R_ERR_BODY]);
    printf("n %d: post %s; woke %ld, empty %ld, errors %ld%s; wake ms p50 %s p99 %s max %s; "
           "ordinary GET while waiting: %s in %.1f ms; client: %d sent in %.1f s, CPU %.2f s "
           "(%.2f s from the post to the last answer, %.1f s later), %s\n",
           npolls, post_st, count[R_WOKE], count[R_EMPTY], errors, detail, q[0], q[1], q[2], get_st,
           (double)(get->done_at - get->started) / 1e6, npolls, (double)(t_sent - t_open) / 1e9,
           cpu_end - cpu_start, cpu_end - cpu_t0, (double)(t_end - t0) / 1e9, policy);

    for (int i = 0; i < nconn; i++) {
        if (C[i].idle_fd >= 0)
            reset_close(C[i].idle_fd);
        free(C[i].buf); /* every connection is closed by now */
    }
    free(wake);
    free(C);
    free(get_req);
    free(post_req);
    free(poll_req);
    close(ep);
    return 0;
}
