"""scripts/demo --detach / --stop: the printed lines, a working login, an assistant that
answers from the demo knowledge base, and nothing left running after --stop."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import harness

DEMO = harness.REPO / "scripts" / "demo"


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
        stop = run_demo("--stop", "--state-dir", state)
    assert stop.returncode == 0, stop.stderr
    assert set(started) == {"web", "notifier", "ai"}
    alive = [name for name, pid in started.items() if Path(f"/proc/{pid}").exists()
             and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()]
    assert alive == [], f"still running after --stop: {alive}"
    assert not (state / "pg" / "data" / "postmaster.pid").exists()
    left = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes still running with {state}: {left}"
    subprocess.run(["rm", "-rf", str(state)])
