#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""REST benchmark: wrk against lighttpd + chatai.fcgi (external threaded pool) on a
throwaway PostgreSQL. Prints requests/s and latency percentiles for
  GET  /api/dialogs/{id}/messages      (operator, a 20-message history)
  POST /api/widget/dialogs/{id}/messages (visitors, unique client ids, 50 dialogs)
  POST /api/auth/login                 (yescrypt password check)
Rate limits are raised far above what the run can reach (the limiter still counts).

  CHATAI_BUILD_DIR=/path/to/build bench/rest/bench_rest.py [--duration 10] [--connections 32]
      [--threads 2]
The pool is the harness's FcgiPool: `chatai.fcgi --listen 127.0.0.1:PORT --threads 16`.
Never part of pass/fail.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "integration"))
import harness  # noqa: E402

HIGH = {"CHATAI_RATE_LIMIT_DIALOGS": 100000000, "CHATAI_RATE_LIMIT_MESSAGES": 100000000,
        "CHATAI_RATE_LIMIT_TYPING": 100000000, "CHATAI_RATE_LIMIT_LOGIN": 100000000,
        "CHATAI_LOG_LEVEL": "warn"}


def wrk(url, args, script=None, env=None):
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--latency"]
    if script:
        cmd += ["-s", str(HERE / script)]
    cmd.append(url)
    cp = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=args.duration + 60)
    out = cp.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "pct": pct, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "total": int(total.group(1)) if total else 0, "raw": out + cp.stderr}


def main():
    args, tmp = harness.bench_start("rest", duration=10, connections=32, threads=2)
    st = harness.Stack(tmp, notifier=False, env=HIGH, fcgi="external")
    try:
        api = harness.Api(st.url)
        aid = harness.make_assistant(st.pg, "Bench", greeting="Hello")
        harness.make_operator(st.pg, "bench@example.com", "bench-password-1", "Ben", "operator")
        tok = api.login("bench@example.com", "bench-password-1")
        d, vt, _ = api.create_dialog(aid)
        for i in range(19):
            api.visitor_post(d, vt, f"history message {i}")
        dialogs = [api.create_dialog(aid) for _ in range(50)]
        print(f"chatai.fcgi --listen --threads {st.web.pool.argv[-1]} behind lighttpd, PostgreSQL 15; "
              f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s")
        runs = [
            ("GET messages (20)", f"{st.url}/api/dialogs/{d}/messages", "get_messages.lua", {"BENCH_TOKEN": tok}),
            ("POST widget message", f"{st.url}/", "posts.lua",
             {"BENCH_DIALOGS": ",".join(f"{i}:{t}" for i, t, _ in dialogs)}),
            ("POST login", f"{st.url}/api/auth/login", "login.lua",
             {"BENCH_EMAIL": "bench@example.com", "BENCH_PASSWORD": "bench-password-1"}),
        ]
        print(f"{'endpoint':24} {'req/s':>9} {'p50':>9} {'p75':>9} {'p90':>9} {'p99':>9} {'non-2xx':>8}")
        for name, url, script, e in runs:
            r = wrk(url, args, script, e)
            p = r["pct"]
            print(f"{name:24} {r['rps']:9.0f} {p.get('50', '-'):>9} {p.get('75', '-'):>9} {p.get('90', '-'):>9} "
                  f"{p.get('99', '-'):>9} {r['non2xx']:>8}")
            if r["total"] == 0:
                print(r["raw"])
        stored = st.pg.sql("SELECT count(*), count(DISTINCT client_id) FROM messages WHERE client_id LIKE 'v-%%'")[0]
        print(f"bench messages stored: {stored[0]} (distinct client ids {stored[1]})")
    finally:
        st.stop()


if __name__ == "__main__":
    main()
