#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmarks of the assistant worker (chatai-ai). Prints figures; never pass/fail.

  1. Answers per second of the knowledge-base provider with a 10,000-entry knowledge base:
     N dialogs with one question each are queued, then `chatai-ai --once` (one worker, and
     two workers side by side) answers them all; answers / wall time.
  2. The delay the worker adds between a visitor's message commit and its typing_start:
     a LISTEN connection sees the visitor message's NOTIFY (sent at commit) and then the
     worker's typing_start NOTIFY; the difference, over many messages sent one at a time.

Runs on a private PostgreSQL cluster (tests/integration/harness.py) with the binaries of
$CHATAI_BUILD_DIR (default <repo>/build):

  CHATAI_BUILD_DIR=build /usr/bin/python3 bench/ai/bench_ai.py [--entries 10000] [--dialogs 2000] [--latency 300]
"""

import json
import os
import random
import select
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import harness  # noqa: E402

WORDS = ("account order invoice refund delivery parcel courier warehouse password login email "
         "address payment card coupon discount subscription plan upgrade downgrade cancel "
         "return exchange size colour stock restock warranty repair battery charger cable "
         "screen keyboard mouse printer ink paper shipping customs tax receipt gift voucher "
         "membership points loyalty store hours holiday opening closing branch pickup locker "
         "tracking number status delay damaged missing wrong item quality complaint manager "
         "newsletter privacy data delete export language currency region app update install").split()
FILLER = "hello hi please could you tell me I would like to know about my the a thanks".split()


def make_kb(n, rng):
    pairs = []
    for i in range(n):
        topic = rng.sample(WORDS, 3)
        q = f"How do I {topic[0]} my {topic[1]} {topic[2]} (case {i})?"
        a = f"To {topic[0]} your {topic[1]} {topic[2]}, open your account page and follow step {i % 7 + 1}."
        pairs.append((q, a))
    return pairs


def question(pairs, rng, kind=None):
    """50% an entry's question as written, 35% with extra words (the OR rounds), 15% no
    match (the fallback answer)."""
    q, _ = rng.choice(pairs)
    if kind is None:
        r = rng.random()
        kind = "exact" if r < 0.5 else "extra words" if r < 0.85 else "no match"
    if kind == "exact":
        return q
    if kind == "extra words":
        return " ".join(rng.sample(FILLER, 4)) + " " + q.split("(")[0]
    return "zzqx blorf " + rng.choice(FILLER)


def run_once(pg, workers):
    env = harness.base_env({"CHATAI_DATABASE_URL": pg.url, "CHATAI_LOG_LEVEL": "warn"})
    procs = []
    t0 = time.monotonic()
    for i in range(workers):
        p = harness.Process([harness.binary("chatai-ai"), "--once"], env=env, name=f"ai-once-{i}",
                            log_path=Path(pg.tmpdir) / f"bench-once-{i}-{time.monotonic_ns()}.log")
        procs.append(p.start())
    for p in procs:
        if p.wait(600) != 0:
            raise SystemExit(f"chatai-ai --once failed:\n{p.log_tail()}")
    return time.monotonic() - t0


def queue_questions(pg, assistant, pairs, n, rng):
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO dialogs (assistant_id, visitor_token_hash) "
                    "SELECT %s, md5(g::text) FROM generate_series(1, %s) g RETURNING id", (assistant, n))
        ids = [r[0] for r in cur.fetchall()]
        for d in ids:
            cur.execute("SELECT created FROM chatai_post_message(%s, 'user', %s)", (d, question(pairs, rng)))
    conn.close()
    return ids


def bench_throughput(pg, assistant, pairs, n, rng):
    out = {}
    for workers in (1, 2):
        ids = queue_questions(pg, assistant, pairs, n, rng)
        took = run_once(pg, workers)
        answered, fallback = pg.sql(
            "SELECT count(*), count(*) FILTER (WHERE text = (SELECT fallback_message FROM assistants WHERE id = %s)) "
            "FROM messages WHERE sender = 'ai' AND dialog_id = ANY(%s)", assistant, ids)[0]
        if answered != n:
            raise SystemExit(f"{answered} answers for {n} questions")
        out[workers] = (n / took, took, fallback)
        print(f"kb answers, {workers} worker(s): {n} questions in {took:.2f} s = {n / took:.0f} answers/s "
              f"({n - fallback} from the knowledge base, {fallback} fallback)", flush=True)
    # The search alone, for reference, per kind of question.
    conn = pg.connect()
    with conn.cursor() as cur:
        for kind in ("exact", "extra words", "no match"):
            qs = [question(pairs, rng, kind) for _ in range(100)]
            t0 = time.monotonic()
            for q in qs:
                cur.execute("SELECT id FROM chatai_kb_search(%s, %s, 1)", (assistant, q))
                cur.fetchall()
            per = (time.monotonic() - t0) / len(qs) * 1000
            print(f"chatai_kb_search alone, {kind}: {per:.2f} ms per question "
                  f"({len(pairs)} entries, client round trip included)")
    conn.close()
    return out


def bench_latency(pg, assistant, pairs, n, rng):
    w = harness.AiWorker(pg, env={"CHATAI_LOG_LEVEL": "warn"}).start()
    lis = pg.connect()
    with lis.cursor() as cur:
        cur.execute("LISTEN chatai")
    writer = pg.connect()
    delays = []
    try:
        for _ in range(n):
            with writer.cursor() as cur:
                cur.execute("INSERT INTO dialogs (assistant_id, visitor_token_hash) VALUES (%s, 'x') RETURNING id",
                            (assistant,))
                d = cur.fetchone()[0]
                cur.execute("SELECT created FROM chatai_post_message(%s, 'user', %s)", (d, question(pairs, rng)))
            t_msg = t_typing = t_stop = None
            deadline = time.monotonic() + 10
            while t_stop is None and time.monotonic() < deadline:
                select.select([lis], [], [], 1)
                lis.poll()
                now = time.monotonic()
                while lis.notifies:
                    p = json.loads(lis.notifies.pop(0).payload)
                    if p.get("dialog_id") != d:
                        continue
                    if p["k"] == "msg" and p["msg"]["sender"] == "user":
                        t_msg = now
                    elif p["k"] == "typing" and p["state"] == "start":
                        t_typing = now
                    elif p["k"] == "typing" and p["state"] == "stop":
                        t_stop = now
            if t_msg is None or t_typing is None or t_stop is None:
                raise SystemExit("no typing_start and typing_stop within 10 s")
            delays.append((t_typing - t_msg) * 1000)
            # The worker is idle again (the answer went out): the next question measures
            # the wake-up, not a queue.
            time.sleep(0.005)
    finally:
        w.stop()
        lis.close()
        writer.close()
    delays.sort()
    q = statistics.quantiles(delays, n=100)
    print(f"commit -> typing_start over {n} messages: median {statistics.median(delays):.2f} ms, "
          f"p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms, max {delays[-1]:.2f} ms")
    return delays


def main():
    args, tmp = harness.bench_start("ai", entries=10000, dialogs=2000, latency=300)
    rng = random.Random(42)
    pg = harness.Postgres(tmp / "pg").start()
    try:
        assistant = pg.sql("INSERT INTO assistants (name) VALUES ('Bench') RETURNING id")[0][0]
        pairs = make_kb(args.entries, rng)
        t0 = time.monotonic()
        harness.add_knowledge(pg, assistant, pairs)
        print(f"imported {args.entries} knowledge entries with chatai-ctl in {time.monotonic() - t0:.1f} s")
        # The steady state autovacuum leaves: the GIN index's pending list merged (right
        # after a bulk import the planner avoids the index and every search scans).
        pg.sql("VACUUM ANALYZE knowledge")
        bench_throughput(pg, assistant, pairs, args.dialogs, rng)
        bench_latency(pg, assistant, pairs, args.latency, rng)
    finally:
        pg.destroy()


if __name__ == "__main__":
    main()
