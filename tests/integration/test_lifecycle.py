# SPDX-License-Identifier: MIT
"""Nothing of ours outlives a stop, and everything works from any checkout location.

- `scripts/demo --stop` (lighttpd, Apache, the shared host with mod_fcgid and with mod_cgi),
  a lighttpd graceful restart then stop, an Apache graceful restart then stop: afterwards no
  process of ours remains, found by executable path (/proc/PID/exe: private copies of the
  programs, so other people's processes on this machine are never counted), and Apache's
  error log says nothing about "terminating forcefully".
- `scripts/demo --shared-host[=cgi]`: the same CHATAI_* lines, a working API, only the web
  server started (no notifier, no AI worker).
- A clone under a 0700 folder (git clone into a mktemp -d), its build dir there too: the
  demo with Apache, and the shared-host tests, run from it.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

import harness
import sharedhost

DEMO_LINES = {"CHATAI_URL", "CHATAI_ADMIN_EMAIL", "CHATAI_ADMIN_PASSWORD", "CHATAI_ASSISTANT_ID", "CHATAI_STATE_DIR"}
WEB_SERVERS = ("/usr/sbin/apache2", "/usr/sbin/lighttpd")


def private_build(root):
    """Copies of the built programs under root/build (same layout as a build dir): their
    paths are ours alone, so /proc/PID/exe tells our processes from anyone else's."""
    build = Path(root) / "build"
    for name, rel in harness.BINARIES.items():
        if not harness.have_binary(name):
            continue
        dst = build / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(harness.binary(name), dst)
    return build


def ours(exe_roots, marker):
    """Live pids whose executable lies under one of exe_roots, or that are a web server
    whose command line names marker (the state dir its configuration lives in)."""
    roots = [os.path.realpath(r) + "/" for r in exe_roots]
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            exe = os.readlink(d / "exe")
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] == "Z":
                continue
            if any(exe.startswith(r) for r in roots):
                found.append((int(d.name), exe))
            elif exe in WEB_SERVERS and marker in (d / "cmdline").read_bytes().decode(errors="replace"):
                found.append((int(d.name), exe))
        except OSError:
            continue
    return found


def wait_none(exe_roots, marker, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        left = ours(exe_roots, marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def run_demo(demo, build, *args, timeout=180):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
    env["CHATAI_BUILD_DIR"] = str(build)
    env["CHATAI_DEMO_NO_BUILD"] = "1"
    return subprocess.run([str(demo), *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def _use_demo(lines, shared):
    api = harness.Api(lines["CHATAI_URL"])
    token = api.login(lines["CHATAI_ADMIN_EMAIL"], lines["CHATAI_ADMIN_PASSWORD"])
    assert api.op(token).get("/api/me").json()["role"] == "admin"
    did, vt, created = api.create_dialog(int(lines["CHATAI_ASSISTANT_ID"]))
    assert "Northwind" in created["messages"][0]["text"]
    assert api.visitor_post(did, vt, "Do you ship abroad?").status_code == 201
    assert api.visitor_messages(did, vt, after=1, wait=1).status_code == 200
    if shared:
        # no notifier behind this host: /ws/ and /sse/ are plain missing files
        assert api.s.get(f"/sse/widget/dialogs/{did}").status_code == 404


def _demo_stop_leaves_nothing(demo, build, state, *mode):
    port = harness.free_port()
    shared = bool(mode) and mode[0].startswith("--shared-host")
    data = {}
    try:
        cp = run_demo(demo, build, "--detach", "--port", port, "--state-dir", state, *mode)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        lines = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line)
        assert set(lines) == DEMO_LINES
        assert lines["CHATAI_URL"] == f"http://127.0.0.1:{port}/"
        data = json.loads((Path(state) / "demo.json").read_text())
        if shared:
            assert set(data["pids"]) == {"web"}, data["pids"]  # no notifier, no AI worker
            assert "no notifier, no AI worker, no cron" in cp.stderr
        _use_demo(lines, shared)
        world = Path(data["world_dir"])
        assert ours([build, world], str(world)), "found none of the demo's processes"
    finally:
        stop = run_demo(demo, build, "--stop", "--state-dir", state)
    assert stop.returncode == 0, stop.stderr
    world = Path(data.get("world_dir") or state)
    left = wait_none([build, world], str(world))
    assert left == [], f"still running after --stop: {left}"
    logs = "".join(p.read_text(errors="replace") for p in (Path(state) / "logs").glob("*error*.log"))
    assert "terminating forcefully" not in logs
    return world


@pytest.mark.parametrize("mode", [("--server", "lighttpd"), ("--server", "apache"), ("--shared-host",),
                                  ("--shared-host=cgi",)], ids=["lighttpd", "apache", "shared-fcgid", "shared-cgi"])
def test_demo_stop_leaves_no_process(mode):
    root = harness._world_dir("chatai-life-")
    try:
        build = private_build(root)
        for b in ("chatai-ctl", "chatai.fcgi"):
            harness.binary(b)
        _demo_stop_leaves_nothing(harness.REPO / "scripts" / "demo", build, root / "state", *mode)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _requests(url, n=6):
    """A few API requests at once (several FastCGI processes get spawned)."""
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        codes = list(ex.map(lambda _: requests.get(url + "/api/widget/assistants/999999", timeout=20).status_code,
                            range(n)))
    assert set(codes) == {404}, codes


def _uid(pid):
    return int([ln for ln in open(f"/proc/{pid}/status") if ln.startswith("Uid:")][0].split()[2])


def test_lighttpd_graceful_restart_then_stop(pg, tmp_path):
    web = harness.WebServer("lighttpd", pg, harness.free_port(), logdir=tmp_path).start()
    exe_root = web.state / "bin"  # lighttpd spawns the staged copy: ours alone
    try:
        _requests(web.url)
        before = ours([exe_root], str(web.state))
        assert len([p for p, e in before if e.startswith(str(exe_root))]) >= 1
        # the shipped configuration drops root (server.username): lighttpd and every
        # chatai.fcgi it spawned run as www-data
        if os.geteuid() == 0:
            www = harness.pwd.getpwnam(harness.WEB_USER).pw_uid
            assert {_uid(p) for p, e in before} == {www}, [(p, e, _uid(p)) for p, e in before]
        web.kill(signal.SIGUSR1)  # graceful restart: finish what is in flight, start afresh
        harness.wait_until(lambda: _ok(web.url), timeout=15, message="lighttpd back after the restart")
        _requests(web.url)
        old = [p for p, e in before if e.startswith(str(exe_root)) and Path(f"/proc/{p}").exists()
               and "Z" != Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]]
        assert old == [], f"the workers before the restart still run: {old}"
    finally:
        state = str(web.state)
        web.stop()
    assert wait_none([exe_root], state) == []


def _ok(url):
    try:
        return requests.get(url + "/api/widget/assistants/999999", timeout=2).status_code == 404
    except requests.RequestException:
        return False


def test_apache_graceful_restart_then_stop(pg, tmp_path):
    web = harness.WebServer("apache", pg, harness.free_port(), fcgi="spawn", logdir=tmp_path).start()
    exe_root = web.state / "bin"
    try:
        _requests(web.url)
        before = [p for p, e in ours([exe_root], str(web.state)) if e.startswith(str(exe_root))]
        assert before, "mod_fcgid started no chatai.fcgi"
        web.kill(signal.SIGUSR1)  # apachectl graceful
        harness.wait_until(lambda: _ok(web.url), timeout=15, message="Apache back after the graceful restart")
        _requests(web.url)
        harness.wait_until(lambda: not [p for p in before if Path(f"/proc/{p}").exists() and "Z" != Path(
            f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]], timeout=10,
            message="the workers of before the graceful restart to exit")
        t0 = time.monotonic()
        state = str(web.state)
        web.stop()
        took = time.monotonic() - t0
    finally:
        if web.running:
            web.stop()
    assert wait_none([exe_root], state) == []
    log = web.error_log.read_text(errors="replace")
    assert "terminating forcefully" not in log and "still did not exit" not in log, log[-3000:]
    assert took < 5, f"Apache took {took:.1f} s to stop"


def test_from_a_clone_under_a_0700_folder():
    """A copy of the checkout in a 0700 folder, build dir there too: the demo with Apache
    and with lighttpd, and the shared-host tests, run from it (what www-data and postgres
    read is staged elsewhere). A git clone where there is a .git, else a plain copy of the
    tree (an unpacked tarball)."""
    closed = Path(tempfile.mkdtemp(prefix="chatai-0700-"))
    os.chmod(closed, 0o700)
    world = None
    try:
        clone = closed / "chatai"
        if (harness.REPO / ".git").exists():
            cp = subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(harness.REPO), str(clone)],
                                capture_output=True, text=True, timeout=120)
            assert cp.returncode == 0, cp.stderr
        else:
            shutil.copytree(harness.REPO, clone, symlinks=True,
                            ignore=shutil.ignore_patterns("build", "build-san", "state", "__pycache__"))
        build = private_build(closed)
        assert subprocess.run(["runuser", "-u", harness.WEB_USER, "--", "test", "-r", str(clone / "web")]).returncode != 0
        for server in ("apache", "lighttpd"):  # lighttpd runs as www-data too (server.username)
            world = _demo_stop_leaves_nothing(clone / "scripts" / "demo", build, clone / "state", "--server", server)
            assert world != clone / "state" and str(world).startswith("/var/tmp/chatai-demo-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
        env["CHATAI_BUILD_DIR"] = str(build)
        cp = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/integration/test_sharedhost.py", "-k", "cgi and AuthConfig"],
                            cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        assert cp.returncode == 0, cp.stdout[-5000:] + cp.stderr[-3000:]
        assert " passed" in cp.stdout
    finally:
        if world is not None and str(world).startswith("/var/tmp/chatai-demo-"):
            shutil.rmtree(world, ignore_errors=True)
        shutil.rmtree(closed, ignore_errors=True)
