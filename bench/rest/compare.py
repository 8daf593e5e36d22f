#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ChatAI and the guide's reference design side by side, in one run, on this machine.

Figures from different runs of a shared machine do not compare, so this starts both, loads
them one after the other with the same generators, and prints ratios. A benchmark: it prints
figures, never pass/fail.

  ChatAI     lighttpd (the shipped lighttpd-conf/chatai.conf.in) + chatai.fcgi, rendered by
             tests/integration/harness.py: --fcgi spawn (lighttpd starts chatai.fcgi itself,
             bin-path / max-procs, the default) or --fcgi external (the harness's FcgiPool,
             `chatai.fcgi --listen --threads 16`). No notifier, rate limits raised far above
             what the run reaches (the limiter still counts), log level warn; in spawn mode
             the workers get the CHATAI_FCGI_LONGPOLL_MAX that deploy.mk gives the installed
             ones (`make install`), when it gives one.
  reference  $REF_DIR/seed_ref_pg.py: FastAPI + uvicorn + asyncpg (Debian packages), one
             process, its own database `ref` (owned by the same role) in the same throwaway
             PostgreSQL cluster as ChatAI's database.

Both get the same data: a dialog of 20 messages to read, 50 dialogs to post into, and
--poll-dialogs dialogs of one message (the greeting) to poll.

1. wrk (-t1 -c32 -d8s --latency by default), ChatAI then the reference, per endpoint:
     GET messages (20)       operator GET /api/dialogs/{id}/messages (bearer)
                             vs the reference's GET /api/dialogs/{id}/messages
     POST visitor message    POST /api/widget/dialogs/{id}/messages (X-Visitor-Token, unique
                             client_id, 50 dialogs; posts.lua) vs the reference's
                             POST /api/dialogs/{id}/messages (post.lua, a manager post)
     POST operator message   POST /api/dialogs/{id}/messages (bearer, unique client_id, 50
                             dialogs taken over beforehand; posts.lua) vs the same
                             reference post
   Each measured run follows a --warmup run of the same load on the same server.
2. Capacity A: N visitors each polling every --poll-period s (GET .../messages?after=SEQ, no
   wait) on their own keep-alive connection, open loop (bench/rest/pollers.c, compiled into
   the temporary folder): the largest N whose p99 < --poll-p99 ms with no error (non-2xx,
   refused or dropped connection, timeout), doubling from --poll-start, then bisecting; the
   two searches take turns step by step.
   ChatAI: the widget route with the visitor token and the dialog's cursor (answer `[]`);
   the reference has no widget route and no cursor: its GET (answer: the greeting). N is
   capped at --poll-max (15000): one process may hold 20000 files here and loopback offers
   ~28000 ephemeral ports, and the generator, the server and its backends share them.
3. Capacity B: --longpolls operator long-polls (wait=25) held on one dialog through the
   web server, one post wakes them. The client: --longpoll-client c (the default:
   bench/rest/longpolls.c, one thread on epoll, compiled into the temporary folder) or node
   ($REF_DIR/longpoll_capacity.mjs, whose own cost per answer, undici and promises, dominates
   its wake-up figures at thousands of answers); both do the same steps, and the output says
   which one ran. The C client runs as SCHED_BATCH, so that it does not preempt the web
   server at each of the thousands of answers it is woken for (longpolls.c says why; its
   line ends with the policy that ran). --rounds runs of it, each on its own new dialog;
   the summary shows the run with the median p99. The reference has no long-poll: n/a.

  bench/rest/compare.py [--fcgi spawn|external] [--duration 8] [--connections 32]
      [--fcgi-procs N] [--threads 1] [--warmup 1] [--rounds 1] [--longpolls 8000] [--poll-period 3]
      [--poll-seconds 10] [--poll-start 1000] [--poll-max 15000] [--poll-p99 100]
      [--poll-dialogs 200] [--longpoll-client c|node] [--skip wrk,poll,longpoll] [--ref-dir DIR]
Binaries from $CHATAI_BUILD_DIR (default <repo>/build: scripts/build). Runs as root (the
harness runs PostgreSQL as `postgres`); missing Debian packages are installed the way
scripts/lib.sh's chatai_install_missing does it.
"""

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

HIGH_LIMITS = {"CHATAI_RATE_LIMIT_DIALOGS": 100000000, "CHATAI_RATE_LIMIT_MESSAGES": 100000000,
               "CHATAI_RATE_LIMIT_TYPING": 100000000, "CHATAI_RATE_LIMIT_LOGIN": 100000000,
               "CHATAI_RATE_LIMIT_READS": 0, "CHATAI_FCGI_LONGPOLL_MAX_PER_IP": 0,  # one client address
               "CHATAI_LOG_LEVEL": "warn"}

# What this needs beyond a build: the harness (psycopg2, requests, PostgreSQL, lighttpd),
# wrk, a C compiler for the poll and long-poll generators, and the reference's FastAPI +
# uvicorn + asyncpg; node only for --longpoll-client node.
PACKAGES = ["postgresql", "lighttpd", "python3-psycopg2", "python3-requests", "wrk", "gcc",
            "libc6-dev", "python3-fastapi", "python3-uvicorn", "python3-asyncpg"]

EMAIL, PASSWORD = "bench@example.com", "bench-password-1"


def say(*a):
    print(*a, flush=True)


def install_missing(extra=()):
    """scripts/lib.sh's chatai_install_missing: apt-get installs what is missing (root)."""
    missing = []
    for p in [*PACKAGES, *extra]:
        cp = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in cp.stdout:
            missing.append(p)
    if not missing:
        return
    cp = subprocess.run(["bash", "-c", '. "$1/scripts/lib.sh" && shift && chatai_install_missing "$@"',
                         "_", str(REPO), *missing])
    if cp.returncode != 0:
        sys.exit(f"compare.py: could not install {' '.join(missing)}")


# ---------------------------------------------------------------------------------------
# wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    """wrk's '812.00us', '18.23ms', '1.02s', '2.00m' -> milliseconds (None if unparsable)."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def wrk(args, url, script=None, env=None, duration=None):
    duration = duration or args.duration
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    cp = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                        timeout=duration + 60)
    out = cp.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    pct = {k: to_ms(v) for k, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": pct.get("50"), "p75": pct.get("75"),
            "p90": pct.get("90"), "p99": pct.get("99"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "sockerr": sum(map(int, sock.groups())) if sock else 0,
            "total": int(total.group(1)) if total else 0, "raw": out + cp.stderr}


def fms(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def wrk_cell(x):
    return (f"{x['rps']:,.0f} req/s, p50 {fms(x['p50'])} / p99 {fms(x['p99'])} ms"
            + (f", {x['non2xx']} non-2xx" if x["non2xx"] else "")
            + (f", {x['sockerr']} socket errors" if x["sockerr"] else ""))


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


# ---------------------------------------------------------------------------------------
# capacity A: pollers

def pollers(args, gen, port, targets_file, n):
    cmd = [str(gen), "-n", str(n), "-p", str(int(args.poll_period * 1000)), "-w", str(args.poll_warmup),
           "-d", str(args.poll_seconds), "-t", "5000", "127.0.0.1", str(port), str(targets_file)]
    budget = n / 4000 + 10 + args.poll_warmup + args.poll_seconds + 30
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=budget)
    try:
        return json.loads(cp.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"compare.py: pollers failed ({cp.returncode}): {cp.stdout}{cp.stderr}")


def poll_ok(args, r):
    expected = r["n"] / args.poll_period * args.poll_seconds
    return r["errors"] == 0 and r["p99"] >= 0 and r["p99"] < args.poll_p99 and r["answered"] >= 0.95 * expected


def poll_line(args, who, r):
    ok = poll_ok(args, r)
    return (f"  {who:9} N {r['n']:6d}: offered {r['n'] / args.poll_period:7.0f}/s, answered "
            f"{r['rate']:7.0f}/s, p50 {r['p50']:7.1f} p90 {r['p90']:7.1f} p99 {r['p99']:7.1f} "
            f"max {r['max']:7.1f} ms; errors {r['errors']} (non-2xx {r['non2xx']}, conn {r['conn_errors']}, "
            f"closed {r['closed']}, timeout {r['timeouts']}, unanswered {r['unanswered']}); "
            f"connected {r['connected']}/{r['n']} in {r['connect_s']:.1f} s; reconnects {r['reconnects']}, "
            f"sent >5 ms late {r['late_sends']}; generator "
            f"{100 * r['gen_cpu']:.0f}% of a core -> {'ok' if ok else 'over'}")


def capacity_search(args):
    """Yields the N to try next and is sent its result; returns the largest N that passed.
    Doubles from poll_start up to poll_max, then bisects to 10 %."""
    lo, hi, best, tried = 0, None, None, {}
    n = min(args.poll_start, args.poll_max)
    while True:
        r = yield n
        tried[n] = r
        if poll_ok(args, r):
            lo, best = n, r
        else:
            hi = n
        if hi is None:
            if n >= args.poll_max:
                break
            n = min(n * 2, args.poll_max)
            continue
        if hi - lo <= max(0.1 * lo, 100):
            break
        n = (lo + hi) // 2
        n = max(lo + 1, round(n / 50) * 50) if n > 100 else n
        if n in tried or n >= hi:
            break
    return {"n": lo, "capped": hi is None, "fail_at": hi, "best": best, "fail": tried.get(hi) if hi else None}


def capacities(args, gen, servers):
    """Both searches, one step of each in turn (ChatAI, reference, ChatAI, ...), so that the
    load of this shared machine drifting over the minutes of the search hits both alike.
    servers: {who: (port, targets_file)}."""
    searches = {who: capacity_search(args) for who in servers}
    # The N each search asks for next; a search that has found its answer leaves.
    asking = {who: next(s) for who, s in searches.items()}
    out = {}
    while asking:
        for who in list(asking):
            port, targets = servers[who]
            r = pollers(args, gen, port, targets, asking[who])
            say(poll_line(args, who, r))
            time.sleep(2)
            try:
                asking[who] = searches[who].send(r)
            except StopIteration as done:
                out[who] = done.value
                del asking[who]
    return out


def cap_ratio(o, r):
    if o["capped"] and r["capped"]:
        return "- (both reach the cap)"
    text = ratio(o["n"], r["n"])
    if o["capped"] and text != "-":
        return "≥ " + text
    if r["capped"] and text != "-":
        return "≤ " + text
    return text


def cap_text(args, c):
    if c is None:
        return "-"
    if c["n"] == 0:
        f = c["fail"]
        return f"< {c['fail_at']} (at {c['fail_at']}: p99 {fms(f['p99'])} ms, errors {f['errors']})"
    b = c["best"]
    s = f"{c['n']}{'+ (cap)' if c['capped'] else ''} (p99 {fms(b['p99'])} ms"
    if c["fail"]:
        f = c["fail"]
        s += f"; at {c['fail_at']}: p99 {fms(f['p99'])} ms, errors {f['errors']}"
    return s + ")"


# ---------------------------------------------------------------------------------------
# the reference

def start_reference(harness, ref_dir, pg, tmp):
    import psycopg2
    admin = psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="chatai")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE ref OWNER chatai")
    admin.close()
    port = harness.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
    env["DATABASE_URL"] = f"postgresql://chatai@127.0.0.1:{pg.port}/ref"
    proc = harness.Process(["/usr/bin/python3", ref_dir / "seed_ref_pg.py", port], env=env, name="seed_ref_pg",
                           log_path=tmp / "reference.log", cwd=str(tmp))
    proc.start()
    proc.wait_port(port, timeout=60)
    return proc, port, f"http://127.0.0.1:{port}"


def ref_sql(pg, query, rows=None):
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user="chatai", dbname="ref")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if rows is not None:
                cur.executemany(query, rows)
            else:
                cur.execute(query)
                return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------

def median_longpoll_line(lines):
    """The line (of the long-poll generator's runs) with the median wake-up p99; a failed
    run counts as the slowest."""
    def p99(line):
        m = re.search(r"p99 ([0-9.]+)", line)
        return float(m.group(1)) if m and line.startswith("n ") else float("inf")
    ranked = sorted(lines, key=p99)
    return ranked[(len(ranked) - 1) // 2]


def installed_longpoll_max():
    """The CHATAI_FCGI_LONGPOLL_MAX that `make install` puts into the bin-environment of the
    workers lighttpd spawns (deploy.mk), so that spawn mode runs them as installed."""
    try:
        m = re.search(r'"CHATAI_FCGI_LONGPOLL_MAX" => "(\d+)"', (REPO / "deploy.mk").read_text())
    except OSError:
        return None
    return m.group(1) if m else None


def harness_build_dir():
    import harness
    return harness.BUILD_DIR


def versions():
    out = {}
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return "?"
    out["lighttpd"] = run(["/usr/sbin/lighttpd", "-v"]).split(" ")[0]
    out["wrk"] = (run(["wrk", "-v"]) or "?").split(" [")[0]
    out["node"] = run(["node", "--version"])
    out["ref"] = run(["/usr/bin/python3", "-c",
                      "import fastapi, uvicorn, asyncpg, importlib.util as u; "
                      "print(f'fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__} (' + "
                      "('httptools' if u.find_spec('httptools') else 'h11') + ', ' + "
                      "('uvloop' if u.find_spec('uvloop') else 'asyncio') + f'), asyncpg {asyncpg.__version__}')"])
    head = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    out["chatai"] = (head + (f" + {len(dirty.splitlines())} modified file(s)" if dirty else "")) if head \
        else "(not a git checkout)"
    out["build"] = str(harness_build_dir())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fcgi-procs", type=int, default=None,
                    help="spawn: lighttpd's max-procs (default: the shipped config's, 1)")
    ap.add_argument("--fcgi", choices=("spawn", "external"), default="spawn",
                    help="spawn: lighttpd starts chatai.fcgi (bin-path, max-procs); external: the FcgiPool")
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run (8)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of the same load before each wrk run (1; 0: none)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="wrk runs per endpoint and server, alternating (1); the summary shows the median run "
                         "by req/s (the lower middle one of an even count). Capacity B runs as many times, "
                         "and the summary shows its run with the median p99")
    ap.add_argument("--longpolls", type=int, default=8000, help="held long-polls for capacity B (8000)")
    ap.add_argument("--poll-period", type=float, default=3.0, help="seconds between one visitor's polls (3)")
    ap.add_argument("--poll-seconds", type=int, default=10, help="measured seconds per capacity step (10)")
    ap.add_argument("--poll-warmup", type=int, default=3, help="unmeasured seconds before each step (3)")
    ap.add_argument("--poll-start", type=int, default=1000, help="first N of the capacity search (1000)")
    ap.add_argument("--poll-max", type=int, default=15000, help="largest N tried (15000; see the port note)")
    ap.add_argument("--poll-p99", type=float, default=100.0, help="p99 bound in ms (100)")
    ap.add_argument("--poll-dialogs", type=int, default=200, help="dialogs the visitors are spread over (200)")
    ap.add_argument("--longpoll-client", choices=("c", "node"), default="c",
                    help="capacity B's client: c (bench/rest/longpolls.c, the default) or node "
                         "($REF_DIR/longpoll_capacity.mjs)")
    ap.add_argument("--skip", default="", help="comma list of parts to leave out: wrk, poll, longpoll")
    ap.add_argument("--ref-dir", type=Path, default=REPO.parent / "shared" / "bench-ref",
                    help="the reference servers (default <repo>/../shared/bench-ref)")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - {"wrk", "poll", "longpoll"}:
        ap.error(f"--skip: unknown part(s) {', '.join(sorted(skip - {'wrk', 'poll', 'longpoll'}))}")
    ref_dir = args.ref_dir.resolve()
    node_client = "longpoll" not in skip and args.longpoll_client == "node"
    for f in ("seed_ref_pg.py", "post.lua") + (("longpoll_capacity.mjs",) if node_client else ()):
        if not (ref_dir / f).is_file():
            sys.exit(f"compare.py: the reference is not there: {ref_dir / f} is missing. "
                     "Pass --ref-dir DIR (the folder with seed_ref_pg.py, post.lua"
                     + (", longpoll_capacity.mjs" if node_client else "") + ").")
    if args.poll_max > 19000:
        ap.error("--poll-max: at most 19000 (one process may hold 20000 files; loopback has ~28000 ports)")
    command = shlex.join([sys.argv[0], *sys.argv[1:]])

    install_missing(["nodejs"] if node_client else [])
    import harness  # noqa: E402  (after install_missing: it needs psycopg2 and requests)

    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile[1], nofile[1]))  # children inherit it

    tmp = Path(tempfile.mkdtemp(prefix="chatai-bench-compare-"))
    os.chmod(tmp, 0o755)
    st = ref = None
    failed = True
    results = {}
    try:
        gen = None
        if "poll" not in skip:
            gen = tmp / "pollers"
            cp = subprocess.run(["gcc", "-O2", "-o", str(gen), str(HERE / "pollers.c")], capture_output=True, text=True)
            if cp.returncode != 0:
                sys.exit(f"compare.py: gcc pollers.c failed:\n{cp.stderr}")
        lp_gen = None
        if "longpoll" not in skip and not node_client:
            lp_gen = tmp / "longpolls"
            cp = subprocess.run(["gcc", "-O2", "-o", str(lp_gen), str(HERE / "longpolls.c")], capture_output=True,
                                text=True)
            if cp.returncode != 0:
                sys.exit(f"compare.py: gcc longpolls.c failed:\n{cp.stderr}")

        # ---- ChatAI
        env = dict(HIGH_LIMITS)
        lp_max = installed_longpoll_max() if args.fcgi == "spawn" else None
        if lp_max:
            env["CHATAI_FCGI_LONGPOLL_MAX"] = lp_max
        st = harness.Stack(tmp, notifier=False, env=env, fcgi=args.fcgi, fcgi_procs=args.fcgi_procs)
        api = harness.Api(st.url)
        aid = harness.make_assistant(st.pg, "Bench", greeting="Hello")
        harness.make_operator(st.pg, EMAIL, PASSWORD, "Ben", "operator")
        tok = api.login(EMAIL, PASSWORD)
        op = api.op(tok)
        d_get, vt, _ = api.create_dialog(aid)
        for i in range(19):
            r = api.visitor_post(d_get, vt, f"history message {i}")
            assert r.status_code == 201, r.text
        visitor_dialogs = [api.create_dialog(aid) for _ in range(50)]
        operator_dialogs = [api.create_dialog(aid)[0] for _ in range(50)]
        d_long = api.create_dialog(aid)[0]
        for d in operator_dialogs + [d_long]:
            r = op.post(f"/api/dialogs/{d}/takeover")
            assert r.status_code == 200, r.text
        poll_dialogs = [api.create_dialog(aid) for _ in range(args.poll_dialogs)]
        got = op.get(f"/api/dialogs/{d_get}/messages")
        assert got.status_code == 200 and len(got.json()) == 20, (got.status_code, got.text[:300])
        ours_get_bytes = len(got.content)
        last_seq = max(m["seq"] for m in poll_dialogs[0][2]["messages"]) if poll_dialogs[0][2]["messages"] else 0
        r = api.visitor_messages(poll_dialogs[0][0], poll_dialogs[0][1], after=last_seq)
        assert r.status_code == 200, r.text
        ours_poll_bytes = len(r.content)

        # ---- the reference, in the same cluster
        ref, ref_port, ref_url = start_reference(harness, ref_dir, st.pg, tmp)
        REF_GET, REF_POST, REF_POLL0 = 1, 2, 1001
        ref_sql(st.pg, "INSERT INTO ref_messages (dialog_id, sender, text) VALUES (%s, %s, %s)",
                [(REF_GET, "ai" if i == 0 else "user", "Hello" if i == 0 else f"history message {i - 1}")
                 for i in range(20)])
        ref_sql(st.pg, "INSERT INTO ref_messages (dialog_id, sender, text) VALUES (%s, 'ai', 'Hello')",
                [(REF_POLL0 + i,) for i in range(args.poll_dialogs)])
        import requests
        got = requests.get(f"{ref_url}/api/dialogs/{REF_GET}/messages", timeout=10)
        assert got.status_code == 200 and len(got.json()) == 20, (got.status_code, got.text[:300])
        ref_get_bytes = len(got.content)
        got = requests.get(f"{ref_url}/api/dialogs/{REF_POLL0}/messages?after=1", timeout=10)
        ref_poll_bytes = len(got.content)

        v = versions()
        pgver = st.pg.sql("SHOW server_version")[0][0]
        backend = (f"lighttpd starts chatai.fcgi (bin-path, max-procs {st.web.fcgi_procs}"
                   + (f", fcgi_longpoll_max {lp_max} as deploy.mk installs it" if lp_max else "") + ")"
                   if args.fcgi == "spawn"
                   else f"chatai.fcgi --listen --threads {st.web.pool.argv[-1]} (external pool)")
        say(f"ChatAI {v['chatai']}, binaries from {v['build']}: {v['lighttpd']} + {backend}, log level warn, "
            "no notifier")
        say(f"reference: {ref_dir / 'seed_ref_pg.py'} ({v['ref']}), one process")
        say(f"PostgreSQL {pgver} (one throwaway cluster, fsync off: databases chatai and ref); "
            f"{os.cpu_count()} CPUs, {platform.release()}; {v['wrk']}" + (f", node {v['node']}" if node_client else ""))
        say(f"GET answer: ChatAI {ours_get_bytes} bytes, reference {ref_get_bytes} bytes (20 messages each); "
            f"load average before the runs {os.getloadavg()[0]:.2f} (this machine is shared: figures of one run "
            "compare with each other only)")

        # ---- 1. wrk
        if "wrk" not in skip:
            say(f"\n## wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency "
                f"(after {args.warmup} s of the same load), ChatAI then the reference")
            hdr = f"{'endpoint':24} {'server':9} {'req/s':>8} {'p50':>8} {'p75':>8} {'p90':>8} {'p99':>8} {'non-2xx':>8} {'sock err':>8}"
            say(hdr)
            ours_visitor_env = {"BENCH_DIALOGS": ",".join(f"{i}:{t}" for i, t, _ in visitor_dialogs)}
            ours_op_env = {"BENCH_TOKEN": tok, "BENCH_DIALOG_IDS": ",".join(map(str, operator_dialogs))}
            ref_post = (f"{ref_url}/api/dialogs/{REF_POST}/messages", ref_dir / "post.lua", {})
            endpoints = [
                ("GET messages (20)",
                 (f"{st.url}/api/dialogs/{d_get}/messages", HERE / "get_messages.lua", {"BENCH_TOKEN": tok}),
                 (f"{ref_url}/api/dialogs/{REF_GET}/messages", None, {})),
                ("POST visitor message", (f"{st.url}/", HERE / "posts.lua", ours_visitor_env), ref_post),
                ("POST operator message", (f"{st.url}/", HERE / "posts.lua", ours_op_env), ref_post),
            ]
            run_no = 0
            for name, ours_spec, ref_spec in endpoints:
                runs = {"ChatAI": [], "reference": []}
                for _ in range(args.rounds):
                    for who, (url, script, env) in (("ChatAI", ours_spec), ("reference", ref_spec)):
                        run_no += 1
                        if args.warmup > 0:
                            wrk(args, url, script, {**env, "BENCH_RUN": f"w{run_no}"}, duration=args.warmup)
                        r = wrk(args, url, script, {**env, "BENCH_RUN": f"r{run_no}"})
                        runs[who].append(r)
                        say(f"{name:24} {who:9} {r['rps']:8.0f} {fms(r['p50']):>8} {fms(r['p75']):>8} "
                            f"{fms(r['p90']):>8} {fms(r['p99']):>8} {r['non2xx']:>8} {r['sockerr']:>8}")
                        if r["total"] == 0:
                            say(r["raw"])
                pick = {who: sorted(rs, key=lambda x: x["rps"])[(len(rs) - 1) // 2] for who, rs in runs.items()}
                results[name] = pick
            stored = st.pg.sql("SELECT count(*), count(DISTINCT client_id) FROM messages "
                               "WHERE client_id LIKE 'v-%%' OR client_id LIKE 'o-%%'")[0]
            say(f"ChatAI messages stored by the post runs: {stored[0]} (distinct client ids {stored[1]}); "
                f"reference rows: {ref_sql(st.pg, 'SELECT count(*) FROM ref_messages')[0][0]}")

        # ---- 2. capacity A
        if "poll" not in skip:
            say(f"\n## capacity A: visitors polling every {args.poll_period:g} s, p99 < {args.poll_p99:g} ms, "
                f"no errors ({args.poll_warmup} s unmeasured + {args.poll_seconds} s measured per step, "
                f"{args.poll_dialogs} dialogs, open loop, N capped at {args.poll_max}: 20000 files per process, "
                f"~28000 loopback ports)")
            say(f"  ChatAI: GET /api/widget/dialogs/{{id}}/messages?after=SEQ + X-Visitor-Token ({ours_poll_bytes}-byte "
                f"answer); reference: GET /api/dialogs/{{id}}/messages?after=1 (no cursor: {ref_poll_bytes}-byte answer)")
            ours_t, ref_t = tmp / "targets-chatai.txt", tmp / "targets-ref.txt"
            ours_t.write_text("".join(f"/api/widget/dialogs/{i}/messages?after={last_seq}\tX-Visitor-Token: {t}\n"
                                      for i, t, _ in poll_dialogs))
            ref_t.write_text("".join(f"/api/dialogs/{REF_POLL0 + i}/messages?after=1\t\n" for i in range(args.poll_dialogs)))
            results["capA"] = capacities(args, gen, {"ChatAI": (st.web.port, ours_t), "reference": (ref_port, ref_t)})

        # ---- 3. capacity B
        if "longpoll" not in skip:
            if node_client:
                client = f"{ref_dir / 'longpoll_capacity.mjs'} (node {v['node']}, undici fetch)"
                cmd = ["node", str(ref_dir / "longpoll_capacity.mjs"), st.url, tok, str(d_long), str(args.longpolls)]
            else:
                client = "bench/rest/longpolls.c (one thread, epoll)"
                cmd = [str(lp_gen), "127.0.0.1", str(st.web.port), tok, str(d_long), str(args.longpolls)]
            say(f"\n## capacity B: {args.longpolls} long-polls (wait=25) held through lighttpd on one dialog, "
                f"one post wakes them; client: {client}")
            lines = []
            for rnd in range(args.rounds):
                if rnd:  # a new dialog each round, taken over as d_long is
                    d_round = api.create_dialog(aid)[0]
                    r = op.post(f"/api/dialogs/{d_round}/takeover")
                    assert r.status_code == 200, r.text
                    cmd[-2] = str(d_round)
                cp = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                line = (cp.stdout.strip().splitlines() or [""])[-1]
                if cp.returncode != 0 or not line.startswith("n "):
                    line = f"failed ({cp.returncode}): {(cp.stdout + cp.stderr).strip()[-600:]}"
                say(f"  ChatAI" + (f" round {rnd + 1}" if args.rounds > 1 else "") + f": {line}")
                lines.append(line)
            line = median_longpoll_line(lines)
            if args.rounds > 1:
                say(f"  the run with the median p99 of {len(lines)}: {line}")
            say("  (woke: answered with the post's message, wake ms from the post's start to the whole answer"
                + (" read" if not node_client else " parsed") + "; empty: the 25 s wait ended without it; the "
                "ordinary GET is one request on a new connection while the long-polls wait"
                + ("; client: the time sending them took and the generator's own CPU time" if not node_client else "") + ")")
            results["capB_client"] = "node" if node_client else "C"
            say("  reference: n/a (no long-poll)")
            results["capB"] = line

        # ---- summary
        say("\n## summary\n")
        say(f"`{command}`  ")
        parts = [f"ChatAI {v['chatai']} ({v['lighttpd']} + chatai.fcgi {args.fcgi}) vs reference "
                 f"(seed_ref_pg.py: {v['ref']})", f"PostgreSQL {pgver}", f"{os.cpu_count()} CPUs"]
        if "wrk" not in skip:
            parts.append(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s"
                         + (f", median of {args.rounds} alternating rounds" if args.rounds > 1 else ""))
        parts.append(f"load average at the end {os.getloadavg()[0]:.2f}")
        say("; ".join(parts) + "\n")
        say("| figure | ChatAI | reference | ChatAI / reference |")
        say("|---|---|---|---|")
        for name in ("GET messages (20)", "POST visitor message", "POST operator message"):
            if name not in results:
                continue
            o, r = results[name]["ChatAI"], results[name]["reference"]
            label = name + (" (ref: manager post)" if name.startswith("POST") else "")
            say(f"| {label} | {wrk_cell(o)} | {wrk_cell(r)} | {ratio(o['rps'], r['rps'])} (req/s) |")
        if "capA" in results:
            o, r = results["capA"]["ChatAI"], results["capA"]["reference"]
            say(f"| A: visitors polling every {args.poll_period:g} s at p99 < {args.poll_p99:g} ms (cap {args.poll_max}) "
                f"| {cap_text(args, o)} | {cap_text(args, r)} | {cap_ratio(o, r)} |")
        if "capB" in results:
            say(f"| B: {args.longpolls} long-polls waiting ({results['capB_client']} client"
                + (f", the median p99 of {args.rounds} runs" if args.rounds > 1 else "") + f") | {results['capB']} "
                "| n/a (no long-poll) | n/a |")
        failed = False
    finally:
        if ref is not None:
            ref.stop()  # by its pid (harness.Process), never by name
        if st is not None:
            st.stop()
        if failed:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say("every process stopped (reference by pid, ChatAI stack and PostgreSQL by the harness)")


if __name__ == "__main__":
    main()
