#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Scale-out benchmark: prints figures, never passes or fails.

1. Message fan-out with one notifier and with two (subscribers split between them):
   deliveries per second and latency from "before the INSERT" to "frame read by the
   client". Messages are stored with chatai_post_message() from two writer threads, as
   the REST workers do; subscribers are operator WebSockets straight on the notifiers.
2. Typing events: through Redis pub/sub (PUBLISH of the internals.md JSON, as credis
   does) versus through PostgreSQL (SELECT chatai_typing(), as the fallback does):
   events per second seen by the subscribers, latency, and the database transactions
   each way costs.

Usage:  CHATAI_BUILD_DIR=/path/to/build /usr/bin/python3 bench/scaleout/bench.py
        [--subs 1000] [--dialogs 10] [--messages 300] [--typing 2000] [--typing-subs 10]

Everything runs on this machine (throwaway PostgreSQL, redis-server, notifiers on free
ports); the client side is Python (asyncio), which is part of what is measured: on a
small machine it, not the notifier, is often the limit. Read the figures as relative.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import resource
import secrets
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness  # noqa: E402
from redis_fixtures import Resp, RedisServer, health  # noqa: E402


# ---------------------------------------------------------------------------------------
# asyncio WebSocket reader (server frames are unmasked; we only read and answer pings)


async def ws_open(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise ConnectionError(head[:200])
    return reader, writer


async def ws_read_loop(reader, writer, sink):
    """Append (monotonic time, event dict) to sink for each text frame, until EOF."""
    try:
        while True:
            b0, b1 = await reader.readexactly(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            payload = await reader.readexactly(n)
            if op == 0x1:
                sink.append((time.time(), json.loads(payload)))
            elif op == 0x9:
                mask = os.urandom(4)
                body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                writer.write(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask + body)
            elif op == 0x8:
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return


class Subscribers:
    """S WebSocket subscribers in one asyncio loop in a thread."""

    def __init__(self, targets):
        self.targets = targets  # [(port, path)]
        self.sinks = [[] for _ in targets]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        if not self.ready.wait(60) or self.error:
            raise RuntimeError(f"subscribers did not connect: {self.error}")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        try:
            conns = []
            for port, path in self.targets:
                conns.append(await ws_open(port, path))
        except Exception as e:
            self.error = e
            self.ready.set()
            return
        self.writers = [w for _, w in conns]
        self.stop_fut = self.loop.create_future()
        tasks = [asyncio.ensure_future(ws_read_loop(r, w, s)) for (r, w), s in zip(conns, self.sinks)]
        self.ready.set()
        await self.stop_fut
        for w in self.writers:
            w.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def count(self, pred):
        return sum(1 for s in self.sinks for _, e in list(s) if pred(e))

    def stop(self):
        self.loop.call_soon_threadsafe(lambda: self.stop_fut.done() or self.stop_fut.set_result(None))
        self.t.join(10)


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def fmt_ms(values):
    if not values:
        return "n/a (nothing delivered)"
    return (f"p50 {pct(values, 50) * 1000:.1f} ms, p95 {pct(values, 95) * 1000:.1f} ms, "
            f"p99 {pct(values, 99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")


# ---------------------------------------------------------------------------------------
# setup


def make_session(pg, operator_id):
    token = secrets.token_urlsafe(32)
    pg.sql("INSERT INTO sessions (operator_id, token_hash, expires_at) "
           "VALUES (%s, %s, now() + interval '1 day')", operator_id,
           hashlib.sha256(token.encode()).hexdigest())
    return token


def make_dialogs(pg, assistant, n):
    ids = []
    for _ in range(n):
        h = hashlib.sha256(secrets.token_bytes(16)).hexdigest()
        ids.append(pg.sql("INSERT INTO dialogs (assistant_id, status, visitor_token_hash) "
                          "VALUES (%s, 'operator', %s) RETURNING id", assistant, h)[0][0])
    return ids


def notifier_hist(ports):
    """The notifiers' own notification-to-send histogram, summed: {le: count}, sum, count."""
    import urllib.request
    buckets, total_sum, total_count = {}, 0.0, 0
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith("chatai_notifier_notify_to_send_seconds_bucket"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                buckets[le] = buckets.get(le, 0) + int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("chatai_notifier_notify_to_send_seconds_sum"):
                total_sum += float(line.rsplit(" ", 1)[1])
            elif line.startswith("chatai_notifier_notify_to_send_seconds_count"):
                total_count += int(float(line.rsplit(" ", 1)[1]))
    return buckets, total_sum, total_count


def hist_summary(before, after):
    """Mean and bucket-bound p50 / p99 of what the notifiers did between two snapshots."""
    b0, s0, c0 = before
    b1, s1, c1 = after
    n = c1 - c0
    if n <= 0:
        return "n/a"
    bounds = sorted((float("inf") if le == "+Inf" else float(le), b1.get(le, 0) - b0.get(le, 0))
                    for le in b1)
    def q(p):
        for le, cum in bounds:
            if cum >= p * n:
                return "<= %s ms" % ("inf" if le == float("inf") else f"{le * 1000:g}")
        return "?"
    return f"mean {(s1 - s0) / n * 1000:.2f} ms, p50 {q(0.5)}, p99 {q(0.99)} over {n} sends"


def xacts(pg):
    return pg.sql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'chatai'")[0][0]


# ---------------------------------------------------------------------------------------
# 1. message fan-out


def bench_fanout(pg, ports, token, dialogs, subs, messages):
    targets = [(ports[i % len(ports)], f"/ws/dialogs/{dialogs[i % len(dialogs)]}?token={token}")
               for i in range(subs)]
    per_dialog = {d: sum(1 for i in range(subs) if dialogs[i % len(dialogs)] == d) for d in dialogs}
    S = Subscribers(targets)
    time.sleep(0.5)
    expected = sum(per_dialog[dialogs[k % len(dialogs)]] for k in range(messages))
    h0 = notifier_hist(ports)

    def writer(part):
        conn = pg.connect()
        with conn.cursor() as cur:
            for k in range(part, messages, 2):
                d = dialogs[k % len(dialogs)]
                cur.execute("SELECT created FROM chatai_post_message(%s, 'manager', %s)",
                            (d, json.dumps({"t": time.time(), "k": k})))
        conn.close()

    t0 = time.time()
    ws = [threading.Thread(target=writer, args=(p,)) for p in (0, 1)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    t_written = time.time()
    deadline = time.time() + 60
    is_msg = lambda e: e.get("type") == "message" and e.get("text", "").startswith('{"t"')  # noqa: E731
    while S.count(is_msg) < expected and time.time() < deadline:
        time.sleep(0.05)
    lat, last = [], 0.0
    for s in S.sinks:
        for t, e in list(s):
            if is_msg(e):
                lat.append(t - json.loads(e["text"])["t"])
                last = max(last, t)
    got = len(lat)
    hist = hist_summary(h0, notifier_hist(ports))
    S.stop()
    return {"notifiers": len(ports), "subscribers": subs, "messages": messages, "hist": hist,
            "deliveries": got, "expected": expected, "write_s": t_written - t0,
            "span_s": last - t0, "rate": got / (last - t0) if last > t0 else 0.0, "lat": lat}


# ---------------------------------------------------------------------------------------
# 2. typing: Redis versus PostgreSQL


def bench_typing(pg, redis, ports, token, dialog, assistant, subs, n, mode):
    targets = [(ports[i % len(ports)], f"/ws/dialogs/{dialog}?token={token}") for i in range(subs)]
    S = Subscribers(targets)
    time.sleep(0.5)
    sent = []
    h0 = notifier_hist(ports)
    x0 = xacts(pg)
    t0 = time.time()
    if mode == "redis":
        r = Resp(redis.port)
        payload = json.dumps({"k": "typing", "dialog_id": dialog, "assistant_id": assistant,
                              "who": "user", "state": "start"}, separators=(",", ":"))
        for _ in range(n):
            sent.append(time.time())
            r.cmd("PUBLISH", "chatai:ephemeral", payload)
        r.close()
    else:
        conn = pg.connect()
        with conn.cursor() as cur:
            for _ in range(n):
                sent.append(time.time())
                cur.execute("SELECT chatai_typing(%s, 'user', 'start')", (dialog,))
        conn.close()
    t_sent = time.time()
    is_typing = lambda e: e.get("type") == "typing_start"  # noqa: E731
    deadline = time.time() + 60
    while S.count(is_typing) < n * subs and time.time() < deadline:
        time.sleep(0.05)
    x1 = xacts(pg)
    hist = hist_summary(h0, notifier_hist(ports))
    lat, last = [], 0.0
    for s in S.sinks:
        got = [t for t, e in list(s) if is_typing(e)]
        for i, t in enumerate(got[:n]):
            lat.append(t - sent[i])  # both transports keep the order of one dialog
        if got:
            last = max(last, got[-1])
    S.stop()
    return {"mode": mode, "events": n, "subscribers": subs, "deliveries": len(lat), "hist": hist,
            "send_rate": n / (t_sent - t0), "rate": n / (last - t0) if last > t0 else 0.0,
            "db_xacts": x1 - x0, "lat": lat}


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subs", type=int, default=1000)
    ap.add_argument("--dialogs", type=int, default=10)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--typing", type=int, default=2000)
    ap.add_argument("--typing-subs", type=int, default=10)
    args = ap.parse_args()

    # Sockets: ours and the notifiers' (they inherit the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="chatai-bench-scaleout-"))
    pg = harness.Postgres(tmp / "pg").start()
    redis = RedisServer(tmp).start()
    env = {"CHATAI_REDIS_URL": redis.url(), "CHATAI_LOG_LEVEL": "warn"}
    notifiers = []
    try:
        notifiers = [harness.Notifier(pg, env=env).start() for _ in range(2)]
        assistant = harness.make_assistant(pg, "Bench")
        op = harness.make_operator(pg, "bench@example.org", "bench-password-1", "Bench", "admin")
        token = make_session(pg, op)
        dialogs = make_dialogs(pg, assistant, args.dialogs)
        print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
        print(f"fan-out: {args.subs} operator WebSockets over {args.dialogs} dialogs, "
              f"{args.messages} messages from 2 writer threads")
        for ports in ([notifiers[0].port], [n.port for n in notifiers]):
            r = bench_fanout(pg, ports, token, dialogs, args.subs, args.messages)
            print(f"  {r['notifiers']} notifier(s): {r['deliveries']}/{r['expected']} deliveries in "
                  f"{r['span_s']:.2f} s = {r['rate']:.0f} deliveries/s "
                  f"(writes took {r['write_s']:.2f} s)\n      end to end (client clock): {fmt_ms(r['lat'])}"
                  f"\n      inside the notifiers (read notification -> writev): {r['hist']}")
        ok = all(health(n.port).get("redis") == "up" for n in notifiers)
        print(f"typing: {args.typing} events on one dialog, {args.typing_subs} subscribers over "
              f"2 notifiers (redis subscribed on both: {ok})")
        tdialog = make_dialogs(pg, assistant, 1)[0]
        for mode in ("redis", "pg"):
            r = bench_typing(pg, redis, [n.port for n in notifiers], token, tdialog, assistant,
                             args.typing_subs, args.typing, mode)
            print(f"  {'Redis PUBLISH' if mode == 'redis' else 'pg_notify   '}: sent {r['send_rate']:.0f}/s, "
                  f"delivered {r['deliveries']}/{r['events'] * r['subscribers']} at {r['rate']:.0f} events/s "
                  f"per subscriber; database transactions {r['db_xacts']}\n      end to end: {fmt_ms(r['lat'])}"
                  f"\n      inside the notifiers: {r['hist']}")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        for n in notifiers:
            n.stop()
        redis.stop()
        pg.destroy()


if __name__ == "__main__":
    main()
