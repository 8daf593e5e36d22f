# SPDX-License-Identifier: MIT
"""scripts/demo.py: start (or stop) the ChatAI demo. Run through scripts/demo, which installs
the packages and builds first.

It reuses the test harness (tests/integration/harness.py) and the server configurations of
lighttpd-conf/ and apache-conf/, so the demo runs exactly what the tests run. Everything
lives in the state dir:

  STATE/pg/            the PostgreSQL cluster (kept between runs)
  STATE/web/           the web server's rendered configuration and sockets
  STATE/logs/          every process's log
  STATE/demo.json      ports, pids, the demo login, the --set settings (read by --stop and
                       the next start)

--set KEY=VALUE (repeatable) gives every program it starts the setting KEY (as the
environment variable CHATAI_KEY, which wins over any settings file, and in the settings file
chatai.fcgi reads). KEY must be one of the keys of common/settings.def, the project's list
of the keys in use (the table "Settings" of docs/internals.md; `scripts/demo --list-settings`
prints it). With --set smtp_url=..., mail_from and public_url default to
chatai-demo@example.com and the demo page (set them to override).
"""

import argparse
import difflib
import hashlib
import json
import os
import re
import secrets
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("CHATAI_BUILD_DIR", str(REPO / "build"))

import harness  # noqa: E402
import sharedhost  # noqa: E402

ADMIN_EMAIL = "admin@demo.example"
KNOWLEDGE = REPO / "scripts" / "demo-knowledge.csv"
# The list of settings keys is common/settings.def (the contract between our processes);
# scripts/settings-doc reads it and writes the README and docs/internals.md tables from it.
SETTINGS_DOC = REPO / "scripts" / "settings-doc"
# Keys the demo sets itself for its processes: another value would cut them apart.
DEMO_OWNS = {
    "database_url": "the demo runs its own PostgreSQL cluster under the state dir",
    "notifier_listen": "the demo picks the notifier's port and points the web server at it",
    "fcgi_listen": "the web server hands chatai.fcgi its socket",
}


def say(msg):
    print(f"demo: {msg}", file=sys.stderr, flush=True)


class UsageError(Exception):
    pass


def known_settings():
    """{key: used by} from common/settings.def (through scripts/settings-doc's reader)."""
    import importlib.machinery
    import importlib.util
    try:
        loader = importlib.machinery.SourceFileLoader("settings_doc", str(SETTINGS_DOC))
        spec = importlib.util.spec_from_loader("settings_doc", loader)
        doc = importlib.util.module_from_spec(spec)
        loader.exec_module(doc)
        keys = {s["key"]: doc.users(s) for s in doc.load()}
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the list of settings keys: {e}")
    if not keys:
        raise UsageError("found no settings keys in common/settings.def")
    return keys


def parse_settings(items):
    """["key=value", ...] -> {key: value} (the last of a repeated key wins); UsageError
    naming the argument when it is malformed or the key unknown."""
    out = {}
    known = None
    for item in items:
        if "=" not in item:
            raise UsageError(f'--set "{item}": expected KEY=VALUE, e.g. --set rate_limit_messages=0')
        key, value = item.split("=", 1)
        key, value = key.strip().lower(), value.strip()
        if not key:
            raise UsageError(f'--set "{item}": the key before "=" is empty; expected KEY=VALUE')
        if "\n" in value or "\r" in value:
            raise UsageError(f'--set "{key}=...": a value is one line')
        if known is None:
            known = known_settings()
        if key not in known:
            near = difflib.get_close_matches(key, known, n=3, cutoff=0.7)
            hint = f" (did you mean {' or '.join(near)}?)" if near else ""
            raise UsageError(f'--set "{item}": unknown settings key "{key}"{hint}; '
                             f"scripts/demo --list-settings prints the valid ones (common/settings.def; "
                             f"chatai.conf(5) explains each)")
        if key in DEMO_OWNS:
            raise UsageError(f'--set "{item}": {key} is not settable here: {DEMO_OWNS[key]}')
        out[key] = value
    return out


def settings_env(settings):
    """{"rate_limit_dialogs": "2"} -> {"CHATAI_RATE_LIMIT_DIALOGS": "2"} (what config_get reads)."""
    return {"CHATAI_" + k.upper().replace(".", "_"): v for k, v in settings.items()}


def shown(key, value):
    """A value as printed: secrets hidden."""
    if key == "ai_api_key" and value:
        return f"(hidden, {len(value)} characters)"
    if key.endswith("_url"):
        return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", value)
    return value


def load_state(state):
    f = state / "demo.json"
    if f.exists():
        try:
            return json.loads(f.read_text())
        except ValueError:
            pass
    return {}


def save_state(state, data):
    f = state / "demo.json"
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)  # holds the demo password
    tmp.replace(f)


def pid_alive(pid, exe_hint):
    """True when pid runs and its command line mentions exe_hint (a reused pid is not ours)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return exe_hint in cmd


def exited(pid):
    """pid is gone, or a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def stop(state):
    data = load_state(state)
    procs = data.get("pids", {})
    hints = {"web": data.get("server", ""), "notifier": "chatai-notifier", "ai": "chatai-ai",
             "fcgi": "chatai.fcgi"}
    for name in ("ai", "web", "fcgi", "notifier"):
        pid = procs.get(name)
        if pid and pid_alive(pid, hints[name] if name != "web" else
                             ("lighttpd" if data.get("server") == "lighttpd" else "apache2")):
            say(f"stopping {name} (pid {pid})")
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                if exited(pid):
                    break
                time.sleep(0.1)
            # Then what is left of its process group (each was started as a group leader):
            # the FastCGI workers the web server spawned, which libfcgi keeps in accept()
            # after a SIGTERM.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    world = Path(data.get("world_dir") or state)
    pgdata = world / "pg" / "data"
    if (pgdata / "postmaster.pid").exists():
        say("stopping PostgreSQL")
        pg = harness.Postgres(state / "logs", port=data.get("pg_port"), base=world / "pg")
        pg.stop()
    data["pids"] = {}
    if data:
        save_state(state, data)
    say("stopped")


def port_free(port):
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def open_to_others(path):
    """Every folder from / down to path lets other users through (postgres, www-data)."""
    p = Path(path).resolve()
    for d in [p, *p.parents]:
        try:
            if not d.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def world_dir(state):
    """Where the parts that PostgreSQL (as postgres) and the web server (as www-data) read
    live: the state dir when they can reach it, else a folder of its own under /var/tmp
    (a checkout or state dir under a 0700 folder: root's home, a mktemp -d)."""
    if open_to_others(state):
        return state
    d = Path("/var/tmp") / f"chatai-demo-{hashlib.sha256(str(state).encode()).hexdigest()[:12]}"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o755)
    return d


def start(args, state, settings):
    data = load_state(state)
    running = {k: v for k, v in data.get("pids", {}).items() if v and Path(f"/proc/{v}").exists()}
    if running:
        say(f"already running in {state} (pids {running}); use --stop first")
        in_effect = data.get("settings", {})
        for k, v in in_effect.items():
            say(f"in effect: {k} = {shown(k, v)}")
        if settings and any(in_effect.get(k) != v for k, v in settings.items()):
            say("the --set settings were not applied: stop the demo with --stop, then start it with them")
            return 1
        print_info(data)
        return 0
    if not port_free(args.port):
        say(f"port {args.port} is taken on 127.0.0.1: choose another with --port N")
        return 1
    try:
        harness.binary("chatai-ctl")
        harness.binary("chatai.fcgi")
    except harness.HarnessError as e:
        say(str(e))
        return 1
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    # The web server's files (copies of web/ and chatai.fcgi) and the database live where
    # www-data and postgres can reach them, wherever the checkout is.
    world = Path(data.get("world_dir") or world_dir(state))
    if world != state:
        say(f"{state} is closed to other users: the database and the web server's files go to {world}")
    pg_port = harness.free_port()
    say(f"PostgreSQL on 127.0.0.1:{pg_port} (data in {world / 'pg'})")
    pg = harness.Postgres(logs, port=pg_port, base=world / "pg").start()
    server = f"apache-shared-{args.shared_host}" if args.shared_host else args.server
    data.update({"pg_port": pg_port, "server": server, "port": args.port, "state_dir": str(state),
                 "settings": settings, "world_dir": str(world)})

    password = data.get("admin_password") or secrets.token_urlsafe(12)
    cp = harness.run_ctl(pg.url, "operator", "add", ADMIN_EMAIL, "Demo Admin", "--role", "admin",
                         stdin=password + "\n", check=False)
    if cp.returncode != 0 and "already exists" not in cp.stderr:
        say(cp.stderr.strip())
        return 1
    if cp.returncode == 0:
        data["admin_password"] = password
    elif "admin_password" not in data:
        say(f"{ADMIN_EMAIL} exists but {state / 'demo.json'} lost its password: "
            f"remove {state} to start afresh")
        data["admin_password"] = "(unknown)"
    if not data.get("assistant_id"):
        aid = harness.make_assistant(pg, "Northwind Coffee assistant",
                                     greeting="Hi! I am the Northwind Coffee assistant. Ask me about "
                                              "shipping, grinds or subscriptions, or ask for a person.")
        harness.run_ctl(pg.url, "knowledge", "import", aid, KNOWLEDGE)
        data["assistant_id"] = aid
        say(f"assistant {aid} with {sum(1 for _ in open(KNOWLEDGE)) - 1} knowledge entries")
    save_state(state, data)
    if args.shared_host:
        return start_shared_host(args, state, world, pg, data, settings)

    # --set: the environment of every program (CHATAI_KEY wins over any settings file), and
    # the settings file the web server gives chatai.fcgi.
    env = {"CHATAI_LOG_LEVEL": "info", **settings_env(settings)}
    if "smtp_url" in settings:
        # --set smtp_url=...: mail from the demo page, whose address the resume links carry
        env.setdefault("CHATAI_MAIL_FROM", "chatai-demo@example.com")
        env.setdefault("CHATAI_PUBLIC_URL", f"http://127.0.0.1:{args.port}/demo/index.html?assistant={data['assistant_id']}")
    # Sized for many waiting clients (docs/deploy.md, "Many waiting clients"): lighttpd
    # admits 8900 connections (two workers of 4450) and spawns one chatai.fcgi process, which parks up to 9000
    # long-polls; Apache gives a waiting request a worker thread (MaxRequestWorkers
    # 10000 in apache-conf/chatai.conf.in) and passes /api/ to one external chatai.fcgi
    # pool, as mod_fcgid would hold a whole process per waiting long-poll.
    longpoll_max = {"lighttpd": 9000, "apache": 10000}[args.server]
    web_env = {"CHATAI_FCGI_LONGPOLL_MAX": longpoll_max, **env}
    programs = ["chatai.fcgi"] + [b for b in ("chatai-notifier", "chatai-ai") if harness.have_binary(b)]
    for k, v in settings.items():
        say(f"set {k} = {shown(k, v)} (CHATAI_{k.upper()}) for {', '.join(programs)}")

    procs = {}
    notifier = None
    nport = harness.free_port()
    if harness.have_binary("chatai-notifier"):
        notifier = harness.Notifier(pg, port=nport, env=env, log_path=logs / "notifier.log").start()
        procs["notifier"] = notifier.pid
        say(f"notifier on 127.0.0.1:{nport}")
    else:
        say("chatai-notifier is not built: no WebSocket/SSE (clients fall back to long-polling)")
    web = harness.WebServer(args.server, pg, nport, port=args.port, state_dir=world / "web", logdir=logs,
                            env=web_env, fcgi="spawn" if args.server == "lighttpd" else "external")
    # The settings file has them; the web server's environment too, since the FastCGI
    # workers it spawns inherit it and CHATAI_* there would win over the file.
    web.env.update({k: str(v) for k, v in web_env.items()})
    if web.pool is not None:
        # the pool's threads: fcgi_threads (default 32), not the harness's --threads 16
        i = web.pool.argv.index("--threads")
        del web.pool.argv[i:i + 2]
    web.start()
    procs["web"] = web.pid
    if web.pool is not None:
        procs["fcgi"] = web.pool.pid
    ai = None
    if harness.have_binary("chatai-ai"):
        ai = harness.AiWorker(pg, env=env, log_path=logs / "ai.log").start()
        procs["ai"] = ai.pid
    else:
        say("chatai-ai is not built: the assistant will not answer")

    def exited():
        gone = False
        for name, p in (("web server", web), ("FastCGI pool", web.pool), ("notifier", notifier), ("AI worker", ai)):
            if p is not None and not p.running:
                say(f"the {name} exited ({p.returncode}); see {p.log_path}")
                gone = True
        return gone

    return serve(args, state, data, procs, (ai, web, notifier, pg), exited)


def start_shared_host(args, state, world, pg, data, settings):
    """--shared-host[=cgi]: Apache with the shipped .htaccess, chatai.fcgi under mod_fcgid
    (at most 4 processes, FcgidMaxProcessesPerClass) or mod_cgi; no notifier, no AI worker,
    no cron: what a shared host allows (tests/integration/sharedhost.py)."""
    mode = args.shared_host
    for k, v in settings.items():
        say(f"set {k} = {shown(k, v)} (in chatai.conf) for chatai.fcgi")
    web = sharedhost.SharedHost(pg, mode, port=args.port, base=world / "web", logdir=state / "logs",
                                settings=settings).start()
    say(f"shared host: Apache with {'mod_fcgid (at most %d chatai.fcgi processes)' % sharedhost.MAX_PROCS if mode == 'fcgid' else 'mod_cgi'}, "
        f"the shipped .htaccess in {web.docroot}, settings in {web.conf}; no notifier, no AI worker, no cron")

    def exited():
        if web.running:
            return False
        say(f"the web server exited ({web.returncode}); see {web.error_log}")
        return True

    return serve(args, state, data, {"web": web.pid}, (web, pg), exited)


def serve(args, state, data, pids, stop, exited):
    """Records pids in the state and prints the demo's lines. --detach: leaves the processes
    running. Otherwise waits for SIGTERM, SIGINT, SIGHUP (Ctrl-C) or exited() true (it says
    which one exited), then stops what stop lists (None skipped, in order) and forgets the
    pids. Returns the exit status, 0."""
    data["pids"] = pids
    save_state(state, data)
    print_info(data)
    if args.detach:
        harness.detach_all()  # they keep running after we exit
        return 0
    say("running; press Ctrl-C to stop")
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *a: stopping.append(1))
    try:
        while not stopping and not exited():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    say("stopping")
    for p in stop:
        if p is not None:
            p.stop()
    harness.detach_all()
    data["pids"] = {}
    save_state(state, data)
    return 0


def print_info(data):
    url = f"http://127.0.0.1:{data['port']}"
    print(f"CHATAI_URL={url}/")
    print(f"CHATAI_ADMIN_EMAIL={ADMIN_EMAIL}")
    print(f"CHATAI_ADMIN_PASSWORD={data['admin_password']}")
    print(f"CHATAI_ASSISTANT_ID={data['assistant_id']}")
    print(f"CHATAI_STATE_DIR={data['state_dir']}")
    sys.stdout.flush()
    say(f"operator panel {url}/admin/   demo shop {url}/demo/?assistant={data['assistant_id']}   "
        f"logs {data['state_dir']}/logs/")


def main():
    ap = argparse.ArgumentParser(prog="scripts/demo", description="Run the ChatAI demo.")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--state-dir", default=str(REPO / "state"))
    ap.add_argument("--server", choices=("lighttpd", "apache"), default="lighttpd")
    ap.add_argument("--shared-host", nargs="?", const="fcgid", choices=("fcgid", "cgi"), default=None,
                    help="Apache with the shipped .htaccess as on a shared host: mod_fcgid (default) or "
                         "--shared-host=cgi; no notifier, no AI worker")
    ap.add_argument("--detach", action="store_true")
    ap.add_argument("--stop", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for every program the demo starts (repeatable)")
    ap.add_argument("--list-settings", action="store_true", help="print the settings keys --set accepts")
    # scripts/demo checks the arguments this way before it installs and builds anything.
    ap.add_argument("--check-args", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    try:
        if args.list_settings:
            for k, used_by in known_settings().items():
                note = f"  (set by the demo: {DEMO_OWNS[k]})" if k in DEMO_OWNS else ""
                print(f"{k:<28} {used_by}{note}")
            return 0
        settings = parse_settings(args.set)
        if args.set and args.stop:
            raise UsageError("--set applies when the demo starts, not with --stop")
    except UsageError as e:
        say(str(e))
        return 2
    if args.check_args:
        return 0
    state = Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    if args.stop:
        stop(state)
        return 0
    try:
        return start(args, state, settings)
    except harness.HarnessError as e:
        say(str(e))
        harness.cleanup_all()
        return 1


if __name__ == "__main__":
    sys.exit(main())
