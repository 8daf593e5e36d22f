# SPDX-License-Identifier: MIT
"""The shared integration-test harness: real PostgreSQL, real web servers, real daemons.

Everything runs as throwaway processes on free 127.0.0.1 ports under temporary folders:

    pg = Postgres(tmpdir).start()          # initdb + pg_ctl + `chatai-ctl migrate`
    stack = Stack(tmpdir)                  # pg + lighttpd + chatai.fcgi + notifier
    api = Api(stack.url)

Binaries come from $CHATAI_BUILD_DIR (default <repo>/build). A part that is not built is
reported loudly (HarnessError naming the missing file and how to build it) the moment a
test needs it; nothing is skipped silently.

Processes are stopped by pid (SIGTERM, wait, SIGKILL), never by name: other people's
processes on the same machine are left alone. Each process runs in its own process
group so that what it spawned (FastCGI workers) goes with it.
"""

import argparse
import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("CHATAI_BUILD_DIR") or (REPO / "build")).resolve()
SQL_DIR = Path(os.environ.get("CHATAI_SQL_DIR") or (REPO / "sql"))
WEB_DIR = REPO / "web"
LIGHTTPD_TEMPLATE = REPO / "lighttpd-conf" / "chatai.conf.in"
APACHE_TEMPLATE = REPO / "apache-conf" / "chatai.conf.in"
APACHE_SITE_TEMPLATE = REPO / "apache-conf" / "chatai-site.conf.in"

BINARIES = {
    "chatai.fcgi": "fcgi/chatai.fcgi",
    "chatai-notifier": "notifier/chatai-notifier",
    "chatai-ai": "ai/chatai-ai",
    "chatai-ctl": "ctl/chatai-ctl",
}


class HarnessError(RuntimeError):
    """Something the harness needs is missing or did not start: the message says what."""


# ---------------------------------------------------------------------------------------
# small helpers


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name):
    """Path of a built program (see BINARIES); HarnessError when it is not built."""
    path = BUILD_DIR / BINARIES[name]
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise HarnessError(
            f"{name} is not built: {path} does not exist. Build it with "
            f"`make -C {BUILD_DIR} {BINARIES[name]}` or point CHATAI_BUILD_DIR at a build "
            "directory that has it.")
    return path


def have_binary(name):
    path = BUILD_DIR / BINARIES[name]
    return path.is_file() and os.access(path, os.X_OK)


def pg_bindir():
    """The newest /usr/lib/postgresql/N/bin that has initdb."""
    override = os.environ.get("CHATAI_PG_BINDIR")
    if override:
        return Path(override)
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not cands:
        raise HarnessError("PostgreSQL server binaries not found: apt-get install postgresql")
    return cands[-1].parent


def wait_for_port(port, host="127.0.0.1", timeout=15.0, proc=None):
    """Wait until something accepts TCP connections on host:port. When proc (a Process)
    dies meanwhile, raise with the tail of its log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if proc is not None and not proc.running:
            raise HarnessError(f"{proc.name} exited with status {proc.returncode} before "
                               f"listening on {host}:{port}; its log:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            tail = f"; its log:\n{proc.log_tail()}" if proc is not None else ""
            raise HarnessError(f"nothing listens on {host}:{port} after {timeout}s{tail}")
        time.sleep(0.05)


def base_env(extra=None):
    """Environment for our daemons: no CHATAI_* inherited from the caller except what we set,
    and no settings file from SYSCONFDIR (CHATAI_CONFIG is /dev/null, an empty file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
    env["CHATAI_CONFIG"] = str(_empty_config())
    env.setdefault("CHATAI_LOG_LEVEL", "debug")
    env["CHATAI_SQL_DIR"] = str(SQL_DIR)
    env["CHATAI_WEB_DIR"] = str(WEB_DIR)  # what `chatai-ctl check` looks for
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def _empty_config():
    """An empty settings file: nothing from SYSCONFDIR/chatai.conf leaks into tests."""
    return "/dev/null"


def _world_dir(prefix):
    """A fresh directory under $TMPDIR (default /tmp) that unprivileged users (postgres,
    www-data) can use. pytest's own tmp dirs are 0700 root, which they cannot enter."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)
    return d


# Everything started here, so that an interrupted run (SIGTERM, SIGINT, a crash of the
# test process) still stops its servers: atexit and a SIGTERM handler call cleanup_all().
_LIVE = []
_LIVE_LOCK = threading.Lock()


def _register(obj):
    with _LIVE_LOCK:
        if obj not in _LIVE:
            _LIVE.append(obj)


def _unregister(obj):
    with _LIVE_LOCK:
        if obj in _LIVE:
            _LIVE.remove(obj)


def cleanup_all():
    """Stop every process and cluster this harness started and remove their temp files."""
    with _LIVE_LOCK:
        live = list(reversed(_LIVE))
    for obj in live:
        try:
            if isinstance(obj, Postgres):
                obj.destroy()
            else:
                obj.stop(timeout=5)
        except Exception:
            pass
    global _TEMPLATE_DIR
    if _TEMPLATE_DIR:
        shutil.rmtree(Path(_TEMPLATE_DIR).parent, ignore_errors=True)
        _TEMPLATE_DIR = None


def detach_all():
    """Forget what was started so that exiting does not stop it (scripts/demo --detach)."""
    with _LIVE_LOCK:
        _LIVE.clear()


def _on_sigterm(signum, frame):
    cleanup_all()
    os._exit(128 + signum)


atexit.register(cleanup_all)
if threading.current_thread() is threading.main_thread():
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        pass


def render(template, values):
    """Replace @KEY@ placeholders; an unknown placeholder left behind is an error."""
    text = Path(template).read_text()
    # `#%` lines document a template's placeholders; `make install` leaves them out too
    text = "".join(line for line in text.splitlines(True) if not line.startswith("#%"))
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    import re
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise HarnessError(f"{template}: placeholders without a value: {sorted(set(left))}")
    return text


# ---------------------------------------------------------------------------------------
# processes


class Process:
    """A child process with its output in a log file.

    .start(), .stop() (SIGTERM, wait, SIGKILL), .kill(sig), .pid, .wait_port(port), .log();
    `with` starts and stops it.
    """

    def __init__(self, argv, env=None, log_path=None, name=None, cwd=None):
        self.argv = [str(a) for a in argv]
        self.env = env if env is not None else base_env()
        self.name = name or Path(self.argv[0]).name
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix=f"chatai-{self.name}-", suffix=".log")
            os.close(fd)
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.popen = None

    def start(self):
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"---- {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True)
        _register(self)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    @property
    def running(self):
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll() if self.popen else None

    def wait(self, timeout=None):
        return self.popen.wait(timeout)

    def kill(self, sig=signal.SIGKILL):
        """Send sig to the process itself (not its group)."""
        if self.running:
            os.kill(self.popen.pid, sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to timeout, then SIGKILL; then reap what is left of its group."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg()
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        self._killpg()
        _unregister(self)
        return self.popen.returncode

    def _killpg(self):
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait_port(self, port, host="127.0.0.1", timeout=15.0):
        wait_for_port(port, host, timeout, proc=self)
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def __repr__(self):
        return f"<Process {self.name} pid={self.pid} log={self.log_path}>"


def run_ctl(pg_url, *args, stdin=None, check=True, env=None, timeout=60):
    """Run chatai-ctl against the database at pg_url; returns CompletedProcess (text)."""
    e = base_env({"CHATAI_DATABASE_URL": pg_url, "CHATAI_LOG_LEVEL": "info"})
    if env:
        e.update({k: str(v) for k, v in env.items()})
    cp = subprocess.run([str(binary("chatai-ctl")), *map(str, args)], input=stdin, env=e,
                        capture_output=True, text=True, timeout=timeout)
    if check and cp.returncode != 0:
        raise HarnessError(f"chatai-ctl {' '.join(map(str, args))} failed ({cp.returncode}):\n"
                           f"{cp.stdout}{cp.stderr}")
    return cp


# ---------------------------------------------------------------------------------------
# PostgreSQL

_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE_DIR = None  # a fresh initdb, copied for each cluster (initdb is the slow part)


def _as_postgres(argv, **kw):
    """Run argv as the postgres user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *map(str, argv)]
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def _chown_postgres(path):
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)


def _initdb_template():
    global _TEMPLATE_DIR
    with _TEMPLATE_LOCK:
        if _TEMPLATE_DIR and (Path(_TEMPLATE_DIR) / "PG_VERSION").exists():
            return _TEMPLATE_DIR
        base = _world_dir("chatai-pgtemplate-")
        data = base / "data"
        _chown_postgres(base)
        cp = _as_postgres([pg_bindir() / "initdb", "-D", data, "-A", "trust", "-U", "postgres",
                           "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"])
        if cp.returncode != 0:
            raise HarnessError(f"initdb failed:\n{cp.stdout}{cp.stderr}")
        _TEMPLATE_DIR = data
        return data


class LocalServer:
    """.url and .ws_url of a server listening on 127.0.0.1:self.port."""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"


class Postgres:
    """A private PostgreSQL cluster on a free port, database `chatai` owned by role `chatai`,
    migrated with `chatai-ctl migrate` on first start.

    .start(), .stop(), .restart(), .url, .port, .connect(), .sql(query, *args); `with` starts
    it and destroys it.
    """

    def __init__(self, tmpdir=None, port=None, migrate=True, base=None):
        """base: a folder to keep the cluster in (scripts/demo); it survives destroy()
        and an existing cluster there is reused. Default: a fresh temp folder."""
        self.tmpdir = Path(tmpdir) if tmpdir else Path(tempfile.mkdtemp(prefix="chatai-test-"))
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.keep = base is not None
        self.base = Path(base) if base is not None else None  # data/ and sock/, owned by postgres
        self.migrate_on_start = migrate
        self.migrated = False
        self._initialised = False
        self.log_path = self.tmpdir / f"postgres-{self.port}.log"

    @property
    def url(self):
        return f"postgresql://chatai@127.0.0.1:{self.port}/chatai"

    @property
    def admin_url(self):
        """Superuser URL (for tests that must do what the application role cannot)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/chatai"

    @property
    def datadir(self):
        return self.base / "data"

    def _pg_ctl(self, *args, timeout=60):
        cp = _as_postgres([pg_bindir() / "pg_ctl", "-D", self.datadir, *args], timeout=timeout)
        return cp

    def _init(self):
        if self.base is None:
            self.base = _world_dir("chatai-pg-")
        elif (self.datadir / "PG_VERSION").exists():
            self._configure()
            return
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        shutil.copytree(_initdb_template(), self.datadir, symlinks=True)
        (self.base / "sock").mkdir(exist_ok=True)
        os.chmod(self.datadir, 0o700)
        self._configure()
        _chown_postgres(self.base)

    def _configure(self):
        # postgresql.auto.conf is read last; our block replaces the one of a previous run
        # (a kept cluster moves to the new port).
        auto = self.datadir / "postgresql.auto.conf"
        marker = "# chatai test harness\n"
        text = auto.read_text() if auto.exists() else ""
        text = text.split(marker)[0]
        with open(auto, "w") as f:
            f.write(text + marker)
            f.write(f"port = {self.port}\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.base / 'sock'}'\n")
            if not self.keep:  # throwaway clusters trade durability for speed
                f.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            f.write("max_connections = 300\nshared_buffers = 32MB\n"
                    "log_min_messages = warning\nlog_line_prefix = '%m [%p] %u '\n")
        # The log file lives in the caller's tmpdir, which postgres may not enter: pg_ctl
        # writes into our base dir and the tmpdir gets a link.
        try:
            if self.log_path.exists() or self.log_path.is_symlink():
                self.log_path.unlink()
            self.log_path.symlink_to(self.base / "postgres.log")
        except OSError:
            pass

    def start(self):
        if not self._initialised:
            self._init()
            self._initialised = True
        _register(self)
        cp = self._pg_ctl("-l", self.base / "postgres.log", "-w", "-t", "60", "start")
        if cp.returncode != 0:
            log = (self.base / "postgres.log").read_text(errors="replace") \
                if (self.base / "postgres.log").exists() else ""
            raise HarnessError(f"pg_ctl start failed:\n{cp.stdout}{cp.stderr}\n{log[-3000:]}")
        if not self.migrated:
            self._bootstrap()
            if self.migrate_on_start:
                self.migrate()
        return self

    def _bootstrap(self):
        sock = str(self.base / "sock")
        for sql in ("CREATE ROLE chatai LOGIN", "CREATE DATABASE chatai OWNER chatai"):
            cp = _as_postgres([pg_bindir() / "psql", "-X", "-q", "-h", sock, "-p", self.port,
                               "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql])
            if cp.returncode != 0 and "already exists" not in cp.stderr:
                raise HarnessError(f"{sql}: {cp.stderr}")

    def migrate(self):
        """Apply sql/ with chatai-ctl migrate (the real tool)."""
        run_ctl(self.url, "migrate", "--sql-dir", SQL_DIR)
        self.migrated = True
        return self

    def stop(self, mode="fast"):
        """Stop the server (mode fast, smart or immediate). The data stays: start() again."""
        if self.base is None or not (self.datadir / "postmaster.pid").exists():
            return
        cp = self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")
        if cp.returncode != 0 and "Is server running" not in cp.stderr:
            raise HarnessError(f"pg_ctl stop failed: {cp.stdout}{cp.stderr}")

    def restart(self, mode="fast"):
        self.stop(mode)
        return self.start()

    @property
    def running(self):
        return self.base is not None and (self.datadir / "postmaster.pid").exists()

    def destroy(self):
        """Stop (immediately) and remove the cluster's files."""
        try:
            self.stop("immediate")
        finally:
            if self.base is not None and not self.keep:
                shutil.rmtree(self.base, ignore_errors=True)
                self.base = None
            _unregister(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()

    def connect(self, user="chatai", autocommit=True):
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=user, dbname="chatai",
                                connect_timeout=5)
        conn.autocommit = autocommit
        return conn

    def sql(self, query, *args):
        """Run one statement as `chatai`; rows as a list of tuples ([] when none)."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(query, args if args else None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def log(self):
        p = self.base / "postgres.log" if self.base else None
        return p.read_text(errors="replace") if p and p.exists() else ""


# ---------------------------------------------------------------------------------------
# daemons


class Notifier(LocalServer, Process):
    """chatai-notifier listening on 127.0.0.1:port (free port by default)."""

    def __init__(self, pg, port=None, env=None, args=(), log_path=None):
        self.pg = pg
        self.port = port or free_port()
        e = base_env({"CHATAI_DATABASE_URL": pg.url,
                      "CHATAI_NOTIFIER_LISTEN": f"127.0.0.1:{self.port}"})
        if env:
            e.update({k: str(v) for k, v in env.items()})
        super().__init__([binary("chatai-notifier"), *args], env=e, name="chatai-notifier",
                         log_path=log_path or Path(pg.tmpdir) / f"notifier-{self.port}.log")

    def start(self, wait=True):
        super().start()
        if wait:
            self.wait_port(self.port)
        return self


class AiWorker(Process):
    """chatai-ai (knowledge-base provider unless env says otherwise)."""

    def __init__(self, pg, env=None, args=(), log_path=None):
        self.pg = pg
        e = base_env({"CHATAI_DATABASE_URL": pg.url})
        if env:
            e.update({k: str(v) for k, v in env.items()})
        super().__init__([binary("chatai-ai"), *args], env=e, name="chatai-ai",
                         log_path=log_path or Path(pg.tmpdir) / f"ai-{id(self)}.log")

    def start(self):
        super().start()
        time.sleep(0.1)
        if not self.running:
            raise HarnessError(f"chatai-ai exited at once ({self.returncode}):\n{self.log_tail()}")
        return self


class FcgiPool(Process):
    """chatai.fcgi as an external threaded pool: `chatai.fcgi --listen 127.0.0.1:PORT`."""

    def __init__(self, pg, threads=16, env=None, log_path=None):
        self.pg = pg
        self.port = free_port()
        e = base_env({"CHATAI_DATABASE_URL": pg.url})
        if env:
            e.update({k: str(v) for k, v in env.items()})
        super().__init__([binary("chatai.fcgi"), "--listen", f"127.0.0.1:{self.port}",
                          "--threads", threads], env=e, name="chatai.fcgi",
                         log_path=log_path or Path(pg.tmpdir) / f"fcgi-{self.port}.log")

    def start(self):
        super().start()
        self.wait_port(self.port)
        return self


WEB_USER = os.environ.get("CHATAI_TEST_APACHE_USER", "www-data")


def stage_for_web_user(dest, docroot=None, programs=("chatai.fcgi",)):
    """Copy what the web server's user (www-data: Apache's children, lighttpd after it
    drops root) must read or run into dest, a world-readable folder: the document root
    (web/ by default) as dest/web, and the programs as dest/bin/NAME. The checkout may
    sit under a folder that user cannot enter (a clone in root's home, under a 0700
    mktemp -d). Returns (docroot, {name: staged path})."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    web = dest / "web"
    if web.exists():
        shutil.rmtree(web)
    shutil.copytree(Path(docroot or WEB_DIR), web, symlinks=False)
    for root, dirs, files in os.walk(web):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    bindir = dest / "bin"
    bindir.mkdir(exist_ok=True)
    os.chmod(bindir, 0o755)
    staged = {}
    for name in programs:
        target = bindir / Path(BINARIES.get(name, name)).name
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(binary(name), tmp)
        os.chmod(tmp, 0o755)
        tmp.replace(target)  # a running copy keeps its inode
        staged[name] = target
    return web, staged


def settings_file(path, settings):
    """Write a chatai.conf (key = "value" lines) readable by unprivileged users."""
    lines = ["# written by the test harness"]
    for k, v in settings.items():
        lines.append(f'{k} = "{v}"')
    Path(path).write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o644)
    return Path(path)


def _env_to_settings(env):
    """{"CHATAI_RATE_LIMIT_DIALOGS": 5} -> {"rate_limit_dialogs": "5"}"""
    out = {}
    for k, v in (env or {}).items():
        if k.startswith("CHATAI_") and k != "CHATAI_CONFIG":
            out[k[len("CHATAI_"):].lower()] = str(v)
    return out


class WebServer(LocalServer, Process):
    """lighttpd or Apache in front of chatai.fcgi, /ws/ and /sse/ proxied to the notifier,
    web/ as the document root. The configuration is rendered from the template in
    lighttpd-conf/ or apache-conf/ (the same files the demo and deployments use).

    fcgi: "spawn" (the web server starts the FastCGI workers itself), "external"
    (an FcgiPool started here, the web server connects to it) or "none" (static files
    and proxies only: /api/ answers 503; for testing the server setup). Default from
    $CHATAI_TEST_FCGI_MODE, else "spawn".
    env: CHATAI_* settings for chatai.fcgi (e.g. {"CHATAI_RATE_LIMIT_DIALOGS": 3}).
    """

    def __init__(self, kind, pg, notifier_port, docroot=None, port=None, env=None, fcgi=None,
                 fcgi_procs=None, state_dir=None, logdir=None, bind="127.0.0.1"):
        if kind not in ("lighttpd", "apache"):
            raise ValueError("kind must be lighttpd or apache")
        self.kind = kind
        self.pg = pg
        self.port = port or free_port()
        self.notifier_port = notifier_port
        self.docroot = Path(docroot or WEB_DIR).resolve()
        self.source_docroot = self.docroot
        self.fcgi_mode = fcgi or os.environ.get("CHATAI_TEST_FCGI_MODE", "spawn")
        # lighttpd hands a spawned worker many requests at once (its threads take them);
        # mod_fcgid gives a process one request at a time, so a long-poll holds a process.
        self.fcgi_procs = fcgi_procs or (1 if kind == "lighttpd" else 16)
        self.fcgi_env = dict(env or {})
        self.pool = None
        self.bind = bind
        self.keep_state = state_dir is not None
        if state_dir is not None:
            self.state = Path(state_dir)
            if self.state.exists():
                shutil.rmtree(self.state)
            self.state.mkdir(parents=True)
            os.chmod(self.state, 0o755)
        else:
            self.state = _world_dir(f"chatai-{kind}-")
        # Logs outlive the server (read them after stop()); the state dir does not.
        self.logdir = Path(logdir or pg.tmpdir)
        self.error_log = self.logdir / f"{kind}-{self.port}-error.log"
        self.conf = settings_file(self.state / "chatai.conf",
                                  {"database_url": pg.url, "log_level": "debug",
                                   **_env_to_settings(self.fcgi_env)})
        if self.fcgi_mode not in ("spawn", "external", "none"):
            raise ValueError("fcgi must be spawn, external or none")
        # Apache's children and lighttpd (once it drops root) run as www-data: they read
        # and run copies under the state dir, not the checkout, which may be closed to them.
        self.docroot, staged = stage_for_web_user(
            self.state, self.source_docroot, ("chatai.fcgi",) if self.fcgi_mode == "spawn" else ())
        fcgi_bin = staged.get("chatai.fcgi")
        self.dead_port = free_port() if self.fcgi_mode == "none" else None
        if self.fcgi_mode == "external":
            self.pool = FcgiPool(pg, env={"CHATAI_CONFIG": self.conf, **self.fcgi_env},
                                 log_path=self.logdir / f"fcgi-pool-{self.port}.log")
        if kind == "lighttpd":
            argv, conf = self._lighttpd_conf(fcgi_bin)
        else:
            argv, conf = self._apache_conf(fcgi_bin)
        self.server_conf = conf
        super().__init__(argv, env=base_env({"CHATAI_CONFIG": self.conf}), name=kind,
                         log_path=self.logdir / f"{kind}-{self.port}.log")

    # -- configuration

    def _common_values(self, fcgi_bin):
        v = {
            "PORT": self.port,
            "BIND": self.bind,
            "ERRORLOG": self.error_log,
            "ACCESSLOG": self.logdir / f"{self.kind}-{self.port}-access.log",
            "DOCROOT": self.docroot,
            "STATE_DIR": self.state,
            "UPLOAD_DIR": self.state,
            "CHATAI_CONFIG": self.conf,
            "NOTIFIER_HOST": "127.0.0.1",
            "NOTIFIER_PORT": self.notifier_port,
            "FCGI_BIN": fcgi_bin or "",
            "FCGI_PROCS": self.fcgi_procs,
        }
        return v

    def _lighttpd_conf(self, fcgi_bin):
        v = self._common_values(fcgi_bin)
        self._moved_logs = {}
        if os.geteuid() == 0:
            # Started as root, lighttpd runs as www-data (server.username) once it has its
            # port: its logs and the FastCGI socket go where that user may write; the logs
            # join the others in logdir when it stops.
            pw = pwd.getpwnam(WEB_USER)
            os.chown(self.state, pw.pw_uid, pw.pw_gid)
            wlogs = self.state / "logs"
            wlogs.mkdir(exist_ok=True)
            os.chown(wlogs, pw.pw_uid, pw.pw_gid)
            for key in ("ERRORLOG", "ACCESSLOG"):
                final = Path(v[key])
                v[key] = wlogs / final.name
                if self.keep_state:
                    # scripts/demo: the server outlives us; a link where the logs are sought
                    if final.is_symlink() or not final.exists():
                        final.unlink(missing_ok=True)
                        final.symlink_to(v[key])
                else:
                    self._moved_logs[v[key]] = final
            self.error_log = Path(v["ERRORLOG"])
        if self.fcgi_mode in ("external", "none"):
            port = self.pool.port if self.pool else self.dead_port
            v["FCGI_BACKEND"] = (f'"host" => "127.0.0.1", "port" => {port}, '
                                 '"check-local" => "disable"')
        else:
            v["FCGI_BACKEND"] = (f'"socket" => "{self.state}/chatai-fcgi.sock", '
                                 f'"bin-path" => "{fcgi_bin}", '
                                 f'"bin-environment" => ( "CHATAI_CONFIG" => "{self.conf}" ), '
                                 f'"max-procs" => {self.fcgi_procs}, "listen-backlog" => 4096, '
                                 '"check-local" => "disable"')
        v["PIDFILE"] = self.state / "lighttpd.pid"
        conf = self.state / "lighttpd.conf"
        conf.write_text(render(LIGHTTPD_TEMPLATE, v))
        return ["/usr/sbin/lighttpd", "-D", "-f", conf], conf

    def _apache_conf(self, fcgi_bin):
        v = self._common_values(fcgi_bin)
        user = os.environ.get("CHATAI_TEST_APACHE_USER", "www-data")
        v["USER"] = user
        v["GROUP"] = user
        v["MODULES_DIR"] = "/usr/lib/apache2/modules"
        if self.fcgi_mode in ("external", "none"):
            v["FCGI_MODE"] = "external"
            v["FCGI_EXTERNAL"] = f"127.0.0.1:{self.pool.port if self.pool else self.dead_port}"
        else:
            v["FCGI_MODE"] = "fcgid"
            v["FCGI_EXTERNAL"] = ""
        v["FCGI_DIR"] = Path(fcgi_bin).parent if fcgi_bin else ""
        fcgid = self.state / "fcgid"
        fcgid.mkdir()
        pw = pwd.getpwnam(user)
        os.chown(fcgid, pw.pw_uid, pw.pw_gid)
        site = self.state / "chatai-site.conf"
        site.write_text(render(APACHE_SITE_TEMPLATE, v))
        v["SITE_CONF"] = site
        conf = self.state / "apache2.conf"
        conf.write_text(render(APACHE_TEMPLATE, v))
        return ["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"], conf

    # -- life cycle

    def start(self):
        if self.pool is not None:
            self.pool.start()
        super().start()
        self.wait_port(self.port)
        return self

    def stop(self, timeout=10.0):
        rc = super().stop(timeout)
        if self.pool is not None:
            self.pool.stop()
        for src, final in getattr(self, "_moved_logs", {}).items():
            try:
                with open(final, "ab") as out:
                    out.write(Path(src).read_bytes())
                Path(src).write_bytes(b"")
            except OSError:
                continue
            if Path(src) == self.error_log:
                self.error_log = final
        if not self.keep_state:
            shutil.rmtree(self.state, ignore_errors=True)
        return rc

    destroy = stop

    def log(self):
        """The server's own output plus its error log (where FastCGI workers' stderr goes)."""
        parts = [super().log()]
        if self.error_log.exists():
            parts.append(self.error_log.read_text(errors="replace"))
        if self.pool is not None:
            parts.append(self.pool.log())
        return "\n".join(parts)


class _Missing:
    """Stands in for a daemon whose binary is not built: any use fails loudly."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        binary(self._name)  # raises HarnessError with the path and how to build it
        raise HarnessError(f"{self._name} was not started")

    def __bool__(self):
        return False

    def stop(self, *a, **k):
        return None

    running = False


class Stack:
    """PostgreSQL + web server (+ chatai.fcgi) + notifier (+ AI worker), started together.

    notifier: True (required), False (none), or "if-built" (started when built; otherwise
    .notifier is a stand-in that raises HarnessError on any use). ai: same choices.
    pg: an already started Postgres to share (it is then not stopped by .stop()).
    env: CHATAI_* settings for every process (e.g. rate limits, ping intervals).
    """

    def __init__(self, tmpdir=None, server="lighttpd", notifier=True, ai=False, pg=None, env=None,
                 fcgi=None, start=True, fcgi_procs=None):
        self.tmpdir = Path(tmpdir) if tmpdir else Path(tempfile.mkdtemp(prefix="chatai-stack-"))
        self.server_kind = server
        self.env = dict(env or {})
        self.own_pg = pg is None
        self.pg = pg
        self.notifier = None
        self.ai = None
        self.web = None
        self._want_notifier = notifier
        self._want_ai = ai
        self._fcgi = fcgi
        self._fcgi_procs = fcgi_procs
        if start:
            self.start()

    def _daemon(self, want, name, make):
        if not want:
            return None
        if want == "if-built" and not have_binary(name):
            return _Missing(name)
        return make().start()

    def start(self):
        try:
            if self.pg is None:
                self.pg = Postgres(self.tmpdir / "pg").start()
            self.notifier = self._daemon(self._want_notifier, "chatai-notifier",
                                         lambda: Notifier(self.pg, env=self.env))
            nport = self.notifier.port if isinstance(self.notifier, Notifier) else free_port()
            self.notifier_port = nport
            self.web = WebServer(self.server_kind, self.pg, nport, env=self.env, fcgi=self._fcgi,
                                 fcgi_procs=self._fcgi_procs).start()
            self.ai = self._daemon(self._want_ai, "chatai-ai", lambda: AiWorker(self.pg, env=self.env))
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self):
        return self.web.url

    @property
    def ws_url(self):
        return self.web.ws_url

    def logs(self):
        """Every process's log, for a failure report."""
        out = []
        for name, p in (("web", self.web), ("notifier", self.notifier), ("ai", self.ai)):
            if isinstance(p, Process):
                out.append(f"===== {name} ({p.log_path})\n{p.log()[-20000:]}")
        if self.pg is not None:
            out.append(f"===== postgres\n{self.pg.log()[-5000:]}")
        return "\n".join(out)

    def stop(self):
        for p in (self.ai, self.web, self.notifier):
            if p is not None:
                try:
                    p.stop()
                except Exception:
                    pass
        if isinstance(self.web, WebServer):
            shutil.rmtree(self.web.state, ignore_errors=True)
        if self.own_pg and self.pg is not None:
            self.pg.destroy()


def bench_start(name, **options):
    """A benchmark's start (bench/*/): its command line, one `--NAME N` per keyword (the
    value its default and type), and a scratch folder for its servers. (args, folder)."""
    ap = argparse.ArgumentParser()
    for key, default in options.items():
        ap.add_argument("--" + key.replace("_", "-"), type=type(default), default=default)
    return ap.parse_args(), Path(tempfile.mkdtemp(prefix=f"chatai-bench-{name}-"))


# ---------------------------------------------------------------------------------------
# data helpers


def make_operator(pg, email, password, name="Operator", role="operator"):
    """Add an operator with `chatai-ctl operator add` (password on stdin); returns its id."""
    cp = run_ctl(pg.url, "operator", "add", email, name, "--role", role, stdin=password + "\n")
    return int(cp.stdout.strip().splitlines()[-1])


def make_assistant(pg, name="Assistant", greeting="", allowed_origins=()):
    """Add an assistant with `chatai-ctl assistant add`; returns its id."""
    args = ["assistant", "add", name]
    if greeting:
        args += ["--greeting", greeting]
    for o in allowed_origins:
        args += ["--origin", o]
    cp = run_ctl(pg.url, *args)
    return int(cp.stdout.strip().splitlines()[-1])


def add_knowledge(pg, assistant_id, pairs):
    """Import [(question, answer), ...] with `chatai-ctl knowledge import` (JSON file)."""
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump([{"question": q, "answer": a} for q, a in pairs], f)
    try:
        run_ctl(pg.url, "knowledge", "import", assistant_id, path)
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------
# HTTP client


def _requests():
    import requests
    return requests


class BaseUrlSession:
    """A requests.Session whose relative URLs ("/api/me") are resolved on base_url."""

    def __new__(cls, base_url, headers=None, timeout=15):
        requests = _requests()

        class _S(requests.Session):
            def request(self, method, url, *a, **kw):
                if url.startswith("/"):
                    url = base_url.rstrip("/") + url
                kw.setdefault("timeout", timeout)
                return super().request(method, url, *a, **kw)

        s = _S()
        s.base_url = base_url
        if headers:
            s.headers.update(headers)
        return s


class Api:
    """A small client for the REST API of docs/api.md. Raw requests are always fine too."""

    def __init__(self, base_url, timeout=15):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.s = BaseUrlSession(self.base_url, timeout=timeout)

    def url(self, path):
        return self.base_url + path

    @property
    def ws_base(self):
        return "ws" + self.base_url[len("http"):]

    # -- operators

    def login(self, email, password):
        r = self.s.post("/api/auth/login", json={"email": email, "password": password})
        if r.status_code != 200:
            raise AssertionError(f"login {email}: {r.status_code} {r.text}")
        return r.json()["token"]

    def op(self, token):
        """A session that sends Authorization: Bearer token (relative URLs allowed)."""
        return BaseUrlSession(self.base_url, {"Authorization": f"Bearer {token}"}, self.timeout)

    def operator_post(self, token, dialog_id, text, client_id=None):
        body = {"text": text, "sender": "manager"}
        if client_id is not None:
            body["client_id"] = client_id
        return self.op(token).post(f"/api/dialogs/{dialog_id}/messages", json=body)

    def messages(self, token, dialog_id, after=None, wait=None, limit=None):
        params = {k: v for k, v in (("after", after), ("wait", wait), ("limit", limit)) if v is not None}
        return self.op(token).get(f"/api/dialogs/{dialog_id}/messages", params=params,
                                  timeout=self.timeout + (wait or 0))

    # -- visitors

    def create_dialog(self, assistant_id, page_url=None, headers=None):
        body = {"assistant_id": assistant_id}
        if page_url is not None:
            body["page_url"] = page_url
        r = self.s.post("/api/widget/dialogs", json=body, headers=headers or {})
        if r.status_code != 201:
            raise AssertionError(f"create dialog: {r.status_code} {r.text}")
        j = r.json()
        return j["dialog_id"], j["visitor_token"], j

    def visitor_post(self, dialog_id, visitor_token, text, client_id=None):
        body = {"sender": "user", "text": text}
        if client_id is not None:
            body["client_id"] = client_id
        return self.s.post(f"/api/widget/dialogs/{dialog_id}/messages", json=body,
                           headers={"X-Visitor-Token": visitor_token})

    def visitor_messages(self, dialog_id, visitor_token, after=None, wait=None):
        params = {k: v for k, v in (("after", after), ("wait", wait)) if v is not None}
        return self.s.get(f"/api/widget/dialogs/{dialog_id}/messages", params=params,
                          headers={"X-Visitor-Token": visitor_token},
                          timeout=self.timeout + (wait or 0))

    # -- stream URLs (through the web server)

    def ws_dialog_url(self, dialog_id, token, since=None):
        q = {"token": token}
        if since is not None:
            q["since"] = since
        return f"{self.ws_base}/ws/dialogs/{dialog_id}?{urllib.parse.urlencode(q)}"

    def ws_widget_url(self, dialog_id, assistant_id, visitor_token, since=None):
        q = {"assistant_id": assistant_id, "visitor_token": visitor_token}
        if since is not None:
            q["since"] = since
        return f"{self.ws_base}/ws/widget/dialogs/{dialog_id}?{urllib.parse.urlencode(q)}"

    def ws_inbox_url(self, token):
        return f"{self.ws_base}/ws/inbox?{urllib.parse.urlencode({'token': token})}"

    def sse_dialog_url(self, dialog_id, token):
        return f"{self.base_url}/sse/dialogs/{dialog_id}?{urllib.parse.urlencode({'token': token})}"

    def sse_widget_url(self, dialog_id, assistant_id, visitor_token):
        q = {"assistant_id": assistant_id, "visitor_token": visitor_token}
        return f"{self.base_url}/sse/widget/dialogs/{dialog_id}?{urllib.parse.urlencode(q)}"

    def sse_inbox_url(self, token):
        return f"{self.base_url}/sse/inbox?{urllib.parse.urlencode({'token': token})}"


def wait_until(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Poll predicate() until it returns a true value (returned); AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# stream clients (blocking, for tests): WebSocket over wsproto, SSE over a raw socket


def recv_until(recv, predicate, timeout=10.0):
    """Skip what recv(timeout) returns until predicate(it) is true; return that (any
    stream client's recv: TimeoutError once timeout has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        ev = recv(max(0.01, deadline - time.monotonic()))
        if predicate(ev):
            return ev


class WsClosed(Exception):
    """The server closed the WebSocket: .code and .reason."""

    def __init__(self, code, reason=""):
        super().__init__(f"WebSocket closed: {code} {reason}")
        self.code = code
        self.reason = reason


class WsRejected(Exception):
    """The server answered the upgrade with a plain HTTP status: .status, .body."""

    def __init__(self, status, body=b""):
        super().__init__(f"WebSocket upgrade refused: HTTP {status} {body[:200]!r}")
        self.status = status
        self.body = body


class WsClient:
    """A blocking WebSocket client: ws = WsClient(url, origin=...); ws.recv_json(); ws.send({...}).
    Answers pings by itself. Use as a context manager or call .close()."""

    def __init__(self, url, origin=None, headers=(), timeout=10.0):
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        self.ws = WSConnection(ConnectionType.CLIENT)
        extra = [(k.encode(), v.encode()) for k, v in headers]
        if origin:
            extra.append((b"Origin", origin.encode()))
        target = u.path + (f"?{u.query}" if u.query else "")
        self.sock.sendall(self.ws.send(Request(host=f"{u.hostname}:{u.port}", target=target,
                                               extra_headers=extra)))
        self._pending = []  # complete text messages not yet returned
        self._partial = ""
        self.closed = None
        self._handshake(timeout)

    def _handshake(self, timeout):
        from wsproto.events import AcceptConnection, RejectConnection, RejectData
        deadline = time.monotonic() + timeout
        status, body = None, b""
        while True:
            for ev in self.ws.events():
                if isinstance(ev, AcceptConnection):
                    return
                if isinstance(ev, RejectConnection):
                    status = ev.status_code
                    if not ev.has_body:
                        raise WsRejected(status)
                elif isinstance(ev, RejectData):
                    body += ev.data
                    if ev.body_finished:
                        raise WsRejected(status, body)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no WebSocket handshake answer")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                if status is not None:
                    raise WsRejected(status, body)
                raise ConnectionError("connection closed during the WebSocket handshake")
            self.ws.receive_data(data)

    def _pump(self, timeout):
        from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        for ev in self.ws.events():
            if isinstance(ev, TextMessage):
                self._partial += ev.data
                if ev.message_finished:
                    self._pending.append(self._partial)
                    self._partial = ""
            elif isinstance(ev, BytesMessage):
                pass
            elif isinstance(ev, Ping):
                self.sock.sendall(self.ws.send(ev.response()))
            elif isinstance(ev, CloseConnection):
                self.closed = (ev.code, ev.reason or "")
                try:
                    self.sock.sendall(self.ws.send(ev.response()))
                except Exception:
                    pass
        if not data and self.closed is None:
            self.closed = (1006, "connection dropped")

    def _pump_by(self, deadline, what):
        """Reads once, waiting until deadline at most; TimeoutError(what) once it has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(what)
        try:
            self._pump(left)
        except socket.timeout:
            pass

    def recv(self, timeout=10.0):
        """The next text message; WsClosed when the server closed; TimeoutError."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            if self.closed is not None:
                raise WsClosed(*self.closed)
            self._pump_by(deadline, f"no WebSocket message in {timeout}s")
        return self._pending.pop(0)

    def recv_json(self, timeout=10.0):
        return json.loads(self.recv(timeout))

    def recv_until(self, predicate, timeout=10.0):
        """Skip events until predicate(event_dict) is true; return that event."""
        return recv_until(self.recv_json, predicate, timeout)

    def wait_closed(self, timeout=10.0):
        """Read until the server closes; returns (code, reason)."""
        deadline = time.monotonic() + timeout
        while self.closed is None:
            self._pump_by(deadline, "the server did not close the WebSocket")
        return self.closed

    def send(self, message):
        from wsproto.events import TextMessage
        if not isinstance(message, str):
            message = json.dumps(message)
        self.sock.sendall(self.ws.send(TextMessage(data=message)))

    def close(self, code=1000):
        from wsproto.events import CloseConnection
        try:
            if self.closed is None:
                self.sock.sendall(self.ws.send(CloseConnection(code=code)))
        except Exception:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SseClient:
    """A blocking EventSource over a raw socket (so nothing buffers on our side):
    sse = SseClient(url); sse.status, sse.headers; sse.next_event() -> {"id","event","data"}."""

    def __init__(self, url, headers=(), timeout=10.0):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        target = u.path + (f"?{u.query}" if u.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.comments = []
        head = self._read_until(b"\r\n\r\n", timeout)
        raw, self.buf = head.split(b"\r\n\r\n", 1)
        first, *hl = raw.decode("latin-1").split("\r\n")
        self.status = int(first.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in hl if ":" in h)}
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._raw = self.buf
        self.buf = b""
        self._text = ""

    def _recv_by(self, deadline, what):
        """What one read brings, waiting until deadline at most: b"" when nothing came in
        time, None at the end of the stream; TimeoutError(what) once deadline has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(what)
        self.sock.settimeout(left)
        try:
            return self.sock.recv(65536) or None
        except socket.timeout:
            return b""

    def _read_until(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            chunk = self._recv_by(deadline, f"{needle!r} not received in {timeout}s")
            if chunk is None:
                raise ConnectionError("stream closed")
            self.buf += chunk
        return self.buf

    def _decode(self):
        """Move what arrived into self._text, undoing chunked encoding."""
        if not self.chunked:
            self._text += self._raw.decode("utf-8", errors="replace")
            self._raw = b""
            return
        while True:
            i = self._raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self._raw[:i].split(b";")[0] or b"0", 16)
            if len(self._raw) < i + 2 + size + 2:
                return
            self._text += self._raw[i + 2:i + 2 + size].decode("utf-8", errors="replace")
            self._raw = self._raw[i + 2 + size + 2:]
            if size == 0:
                return

    def body(self, timeout=5.0):
        """The whole body of a non-stream answer (error JSON)."""
        deadline = time.monotonic() + timeout
        n = int(self.headers.get("content-length", "-1"))
        while True:
            self._decode()
            if n >= 0 and len(self._text.encode()) >= n:
                return self._text
            try:
                chunk = self._recv_by(deadline, "")
            except TimeoutError:
                return self._text
            if chunk is None:
                self._decode()
                return self._text
            self._raw += chunk

    def next_event(self, timeout=10.0):
        """The next event with data (comments such as ': ping' are kept in .comments)."""
        deadline = time.monotonic() + timeout
        while True:
            self._decode()
            text = self._text.replace("\r\n", "\n")
            while "\n\n" in text:
                block, text = text.split("\n\n", 1)
                self._text = text
                ev = {"id": None, "event": None, "data": None}
                data = []
                for line in block.split("\n"):
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif ":" in line:
                        k, v = line.split(":", 1)
                        v = v[1:] if v.startswith(" ") else v
                        if k == "data":
                            data.append(v)
                        elif k in ("id", "event", "retry"):
                            ev[k] = v
                if data:
                    ev["data"] = "\n".join(data)
                    return ev
            self._text = text
            chunk = self._recv_by(deadline, f"no SSE event in {timeout}s")
            if chunk is None:
                raise ConnectionError("SSE stream closed")
            self._raw += chunk

    def next_json(self, timeout=10.0):
        return json.loads(self.next_event(timeout)["data"])

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
