#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmarks of chatai-notifier: starts a private PostgreSQL and a notifier (release
build recommended: sanitizers multiply memory), runs loadgen for each scenario and prints
its KEY=value figures. Never part of pass/fail.

    CHATAI_BUILD_DIR=/path/to/build bench/notifier/run.py [scenario ...]

Scenarios: ws-1k, mixed-1k, ws-10k, mixed-10k, dialogs-1k, max (default: all but max).

CHATAI_BENCH_PIN=N:L pins the notifier to CPU N and the loadgen to CPU L (e.g. 0:1).
On loopback the kernel runs the receiving client's TCP processing inside the notifier's
send(); bench/notifier/rps.sh runs this script in a private network namespace whose
loopback hands that work to another CPU (RPS), as a NIC would, so the notifier's own
CPU per delivery can be seen apart from its clients'.
This machine caps a process at 20000 open files, so one notifier holds at most ~19.9k
sockets; `max` spreads clients over 127.0.0.2..5 (ephemeral ports are per source
address) and reports how many were held.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import harness  # noqa: E402

SCENARIOS = {
    # name: loadgen arguments
    "ws-1k": ["--ws", "1000", "--dialogs", "1", "--messages", "20", "--rate", "10"],
    "mixed-1k": ["--ws", "1000", "--sse", "1000", "--dialogs", "1", "--messages", "20", "--rate", "10"],
    "ws-10k": ["--ws", "10000", "--dialogs", "1", "--messages", "20", "--rate", "5", "--settle", "5"],
    "mixed-10k": ["--ws", "5000", "--sse", "5000", "--dialogs", "1", "--messages", "20", "--rate", "5",
                  "--settle", "5"],
    "dialogs-1k": ["--ws", "1000", "--sse", "1000", "--dialogs", "1000", "--messages", "5000",
                   "--rate", "1000", "--publishers", "8"],
    "max": ["--ws", "19900", "--dialogs", "1", "--messages", "5", "--rate", "2", "--settle", "5",
            "--src", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5"],
}


def print_notifier_histogram(n):
    """The notifier's own part: notify-to-send quantiles (bucket upper bounds) from /metrics."""
    import urllib.request
    text = urllib.request.urlopen(n.url + "/metrics", timeout=10).read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith("chatai_notifier_notify_to_send_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    if not total:
        return
    for q in (0.5, 0.99):
        bound = next(le for le, c in buckets if c >= q * total)
        print(f"notifier_notify_to_send_p{int(q * 100)}_le_ms={bound * 1000:g}")


def pin_cpus():
    """(notifier CPUs, loadgen CPUs) from CHATAI_BENCH_PIN=N:L, or (None, None)."""
    spec = os.environ.get("CHATAI_BENCH_PIN", "")
    if not spec:
        return None, None
    n, _, l = spec.partition(":")
    return {int(n)}, ({int(l)} if l else None)


def main():
    names = sys.argv[1:] or [n for n in SCENARIOS if n != "max"]
    loadgen = harness.BUILD_DIR / "bench" / "notifier" / "loadgen"
    if not loadgen.exists():
        sys.exit(f"{loadgen} not built: make bench/notifier/loadgen")
    pin_notifier, pin_loadgen = pin_cpus()
    with tempfile.TemporaryDirectory(prefix="chatai-bench-") as tmp:
        pg = harness.Postgres(Path(tmp) / "pg").start()
        try:
            for name in names:
                n = harness.Notifier(pg, env={"CHATAI_LOG_LEVEL": "warn", "CHATAI_NOTIFIER_MAX_PER_IP": 100000}).start()
                harness.wait_until(lambda: b"200" in subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", n.url + "/health"],
                    capture_output=True).stdout, timeout=10)
                if pin_notifier:
                    os.sched_setaffinity(n.pid, pin_notifier)
                time.sleep(0.5)
                argv = [str(loadgen), "--db", pg.url, "--port", str(n.port), "--pid", str(n.pid), *SCENARIOS[name]]
                print(f"== {name}: {' '.join(SCENARIOS[name])}", flush=True)
                cp = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                                    preexec_fn=(lambda: os.sched_setaffinity(0, pin_loadgen)) if pin_loadgen else None)
                print(cp.stdout, end="")
                print_notifier_histogram(n)
                if cp.returncode != 0 or cp.stderr.strip():
                    print("stderr:", "\n".join(cp.stderr.strip().splitlines()[-5:]))
                n.stop()
        finally:
            pg.destroy()


if __name__ == "__main__":
    main()
