# SPDX-License-Identifier: MIT
"""The guide's client snippets (admin panel and widget) run unchanged in node against the
real stack: REST writes, the web server's proxy, the notifier.

node 20 has no global WebSocket: tests/integration/guide/package.json brings the `ws`
package (`npm install` there; scripts/test does it). The runner reads the code blocks
from the guide itself, so a change to the guide is tested as it is.
"""

import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import harness

HERE = Path(__file__).resolve().parent
GUIDE_DIR = HERE / "guide"
SEED = next((p for p in (harness.REPO.parent / "shared" / "seed" / "000_cef5a922ed0f2a29.txt",
                         Path("/work/shared/seed/000_cef5a922ed0f2a29.txt")) if p.exists()), None)

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(SEED is None, reason="the guide (shared/seed) is not here"),
]


@pytest.fixture(scope="module")
def node_ws():
    if not (GUIDE_DIR / "node_modules" / "ws").exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is not installed (scripts/test installs it; Debian: apt-get install npm): "
                        "cannot fetch the ws package the guide's snippets run with")
        cp = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=GUIDE_DIR,
                            capture_output=True, text=True, timeout=300)
        if cp.returncode != 0:
            pytest.fail(f"npm install in {GUIDE_DIR} failed:\n{cp.stderr}")
    return GUIDE_DIR


class Runner:
    def __init__(self, args):
        self.p = subprocess.Popen(["node", str(GUIDE_DIR / "run_snippets.js"), str(SEED), *map(str, args)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.q = queue.Queue()
        self.latest = {}
        self.opened = set()
        self.conntest = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(json.loads(line))

    def wait(self, pred, timeout=10, what="event"):
        """Wait until pred(runner) holds, over the states the snippets reported."""
        deadline = time.monotonic() + timeout
        while True:
            if pred(self):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; last states {self.latest}; "
                                     f"stderr: {self.p.stderr.read() if self.p.poll() is not None else ''}")
            try:
                ev = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if ev["ev"] in ("admin", "widget"):
                self.latest[ev["ev"]] = ev["state"]
            elif ev["ev"] == "open":
                self.opened.add(ev["who"])
            elif ev["ev"] == "conntest":
                self.conntest = ev

    def drain(self):
        """Take in every report received so far."""
        self.wait(lambda r: r.q.empty(), timeout=5, what="reports to be read")

    def has(self, who, pred):
        st = self.latest.get(who)
        return st is not None and pred(st)

    def stop(self):
        try:
            self.p.stdin.close()
        except Exception:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()


def test_guide_admin_and_widget_snippets(node_ws, stack, api, admin, assistant):
    did, vt, _ = api.create_dialog(assistant)
    r = Runner([stack.url, did, admin["token"], assistant, vt])
    try:
        r.wait(lambda r: r.opened >= {"admin", "widget"}, what="both sockets open")
        r.wait(lambda r: r.has("admin", lambda s: s["wsConnected"]), what="admin wsConnected")
        r.wait(lambda r: r.conntest is not None, what="connection test")
        assert r.conntest.get("result") == "Connection successful"

        # Visitor writes: the admin snippet shows it; the widget snippet must not (the
        # widget shows its own messages optimistically).
        um = api.visitor_post(did, vt, "Where is my order?").json()["user_message"]
        r.wait(lambda r: r.has("admin", lambda s: any(m["id"] == um["id"] for m in s["messages"])),
               what="visitor message in the admin panel")

        # The assistant types: the widget's typing indicator turns on.
        stack.pg.sql("SELECT chatai_typing(%s, 'ai', 'start')", did)
        r.wait(lambda r: r.has("widget", lambda s: s["typing"]), what="widget typing indicator")

        # An operator answers: both panels show it, once.
        reply = api.operator_post(admin["token"], did, "It ships today").json()
        r.wait(lambda r: r.has("widget", lambda s: any(m["id"] == reply["id"] for m in s["messages"])),
               what="operator reply in the widget")
        r.wait(lambda r: r.has("admin", lambda s: any(m["id"] == reply["id"] for m in s["messages"])),
               what="operator reply in the admin panel")

        # Each message shows once, and the visitor's own message never reached the widget.
        time.sleep(0.5)
        r.drain()
        widget_msgs = r.latest["widget"]["messages"]
        admin_msgs = r.latest["admin"]["messages"]
        assert all(m["sender"] != "user" for m in widget_msgs)
        assert [m["id"] for m in admin_msgs].count(reply["id"]) == 1
        assert [m["id"] for m in widget_msgs].count(reply["id"]) == 1
        assert any(m["id"] == um["id"] for m in admin_msgs)
    finally:
        r.stop()
