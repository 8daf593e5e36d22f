# SPDX-License-Identifier: MIT
"""scripts/demo --detach / --stop: the printed lines, a working login, an assistant that
answers from the demo knowledge base, and nothing left running after --stop; --set KEY=VALUE
reaches every program, and a wrong --set stops the demo before it starts anything."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import harness

DEMO = harness.REPO / "scripts" / "demo"


def group_members(pgid):
    """Live pids of process group pgid (a web server and the FastCGI workers it spawned)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z" and int(stat[2]) == pgid:
                out.append(int(d.name))
    return out


def run_demo(*args, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
    env["CHATAI_BUILD_DIR"] = str(harness.BUILD_DIR)
    env["CHATAI_DEMO_NO_BUILD"] = "1"  # never rebuild what other tests are running
    return subprocess.run([str(DEMO), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.mark.parametrize("server", ["lighttpd", "apache"])
def test_demo_detach_and_stop(tmp_path, server):
    for b in ("chatai-ctl", "chatai.fcgi", "chatai-notifier", "chatai-ai"):
        harness.binary(b)  # the demo leaves out what is not built; this test wants it all
    state = harness._world_dir("chatai-demo-test-")
    port = harness.free_port()
    try:
        cp = run_demo("--detach", "--port", port, "--state-dir", state, "--server", server)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        lines = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line)
        assert set(lines) == {"CHATAI_URL", "CHATAI_ADMIN_EMAIL", "CHATAI_ADMIN_PASSWORD",
                              "CHATAI_ASSISTANT_ID", "CHATAI_STATE_DIR"}
        assert lines["CHATAI_URL"] == f"http://127.0.0.1:{port}/"
        assert Path(lines["CHATAI_STATE_DIR"]) == state.resolve()

        api = harness.Api(lines["CHATAI_URL"])
        token = api.login(lines["CHATAI_ADMIN_EMAIL"], lines["CHATAI_ADMIN_PASSWORD"])
        assert api.op(token).get("/api/me").json()["role"] == "admin"
        aid = int(lines["CHATAI_ASSISTANT_ID"])
        did, vt, created = api.create_dialog(aid)
        assert "Northwind" in created["messages"][0]["text"]
        assert api.visitor_post(did, vt, "How much does shipping cost?").status_code == 201
        answer = harness.wait_until(
            lambda: [m for m in api.visitor_messages(did, vt, after=2, wait=5).json() if m["sender"] == "ai"],
            timeout=30, message="the assistant's answer")
        assert "€35" in answer[0]["text"]
        assert "Northwind" in api.s.get("/demo/").text

        # a second start while running says so and starts nothing
        again = run_demo("--detach", "--port", port, "--state-dir", state, "--server", server)
        assert again.returncode == 0 and "already running" in again.stderr
    finally:
        started = json.loads((state / "demo.json").read_text()).get("pids", {}) \
            if (state / "demo.json").exists() else {}
        workers = group_members(started["web"]) if "web" in started else []
        stop = run_demo("--stop", "--state-dir", state)
    assert stop.returncode == 0, stop.stderr
    assert len(workers) > 1  # the web server and its children (FastCGI workers among them)
    assert group_members(started["web"]) == [], "the web server's process group outlived --stop"
    # with Apache, chatai.fcgi runs as an external pool (mod_fcgid would take a process per
    # waiting long-poll): one more pid
    assert set(started) == {"web", "notifier", "ai"} | ({"fcgi"} if server == "apache" else set())
    alive = [name for name, pid in started.items() if Path(f"/proc/{pid}").exists()
             and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()]
    assert alive == [], f"still running after --stop: {alive}"
    assert not (state / "pg" / "data" / "postmaster.pid").exists()
    left = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes still running with {state}: {left}"
    subprocess.run(["rm", "-rf", str(state)])


def test_demo_set_rejects_bad_arguments(tmp_path):
    state = tmp_path / "state"
    for args, words in ((["--set", "no_such_key=1"], ['unknown settings key "no_such_key"', "--list-settings"]),
                        (["--set", "rate_limit_dialog=1"], ["rate_limit_dialog", "did you mean rate_limit_dialogs"]),
                        (["--set", "rate_limit_dialogs"], ["expected KEY=VALUE"]),
                        (["--set", "=2"], ["key before \"=\" is empty"]),
                        (["--set", "database_url=postgresql:///x"], ["database_url is not settable"])):
        cp = run_demo("--detach", "--port", harness.free_port(), "--state-dir", state,
                      "--set", "token_ttl=60", *args, timeout=60)
        assert cp.returncode == 2, (args, cp.stdout, cp.stderr)
        for w in words:
            assert w in cp.stderr, (args, w, cp.stderr)
        assert "CHATAI_URL" not in cp.stdout and "set token_ttl" not in cp.stderr
        assert not state.exists(), f"{args}: the demo started something"
    listed = run_demo("--list-settings", timeout=60)
    assert listed.returncode == 0
    keys = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"rate_limit_dialogs", "token_ttl", "ai_provider", "notifier_ping_interval"} <= set(keys)


def test_demo_set_reaches_every_program():
    for b in ("chatai-ctl", "chatai.fcgi", "chatai-notifier", "chatai-ai"):
        harness.binary(b)
    state = harness._world_dir("chatai-demo-set-")
    port = harness.free_port()
    started = {}
    try:
        cp = run_demo("--detach", "--port", port, "--state-dir", state,
                      "--set", "rate_limit_dialogs=2", "--set", "ai_api_key=sk-not-printed")
        assert cp.returncode == 0, cp.stdout + cp.stderr
        started = json.loads((state / "demo.json").read_text())["pids"]
        applied = [line for line in cp.stderr.splitlines() if line.startswith("demo: set ")]
        assert applied == [
            "demo: set rate_limit_dialogs = 2 (CHATAI_RATE_LIMIT_DIALOGS) for chatai.fcgi, chatai-notifier, chatai-ai",
            "demo: set ai_api_key = (hidden, 14 characters) (CHATAI_AI_API_KEY) for chatai.fcgi, chatai-notifier, "
            "chatai-ai"], cp.stderr
        assert "sk-not-printed" not in cp.stdout + cp.stderr

        # chatai.fcgi under lighttpd: two dialogs a minute from one address, the third is refused
        api = harness.Api(f"http://127.0.0.1:{port}")
        aid = int(json.loads((state / "demo.json").read_text())["assistant_id"])
        codes = [api.s.post("/api/widget/dialogs", json={"assistant_id": aid}).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        # the daemons have it in their environment, which wins over any settings file
        for name in ("notifier", "ai"):
            environ = Path(f"/proc/{started[name]}/environ").read_bytes().split(b"\0")
            assert b"CHATAI_RATE_LIMIT_DIALOGS=2" in environ, name

        # a second start asking for other settings refuses: they would not apply
        again = run_demo("--detach", "--port", port, "--state-dir", state, "--set", "rate_limit_dialogs=5")
        assert again.returncode == 1 and "not applied" in again.stderr, again.stderr
    finally:
        workers = group_members(started["web"]) if "web" in started else []
        stop = run_demo("--stop", "--state-dir", state)
        assert stop.returncode == 0, stop.stderr
        alive = [p for p in [*started.values(), *workers] if Path(f"/proc/{p}").exists()
                 and b"zombie" not in Path(f"/proc/{p}/status").read_bytes().lower()]
        assert alive == [], f"still running after --stop: {alive}"
        assert not (state / "pg" / "data" / "postmaster.pid").exists()
        subprocess.run(["rm", "-rf", str(state)])
