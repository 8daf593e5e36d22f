# SPDX-License-Identifier: MIT
"""The same REST and long-poll behaviour behind each way of running chatai.fcgi: lighttpd
with an external threaded pool (`--listen --threads`), and Apache with mod_fcgid (one
request per process). lighttpd spawning the workers is what every other test uses."""

import threading
import time

import pytest
import requests

import harness

pytest_plugins = ["rest_fixtures"]
from rest_fixtures import NO_LIMITS, error_of  # noqa: E402


def smoke(st):
    api = harness.Api(st.url)
    aid = harness.make_assistant(st.pg, "Smoke", greeting="Hi there")
    email = f"smoke-{time.time_ns()}@test.example"
    harness.make_operator(st.pg, email, "smoke-pw-1", "Sam", "operator")
    tok = api.login(email, "smoke-pw-1")
    op = api.op(tok)
    d, vt, j = api.create_dialog(aid, page_url="https://shop.example/")
    assert j["messages"][0]["text"] == "Hi there"
    r = api.visitor_post(d, vt, "hello", client_id="s-1")
    assert r.status_code == 201
    assert api.visitor_post(d, vt, "hello", client_id="s-1").status_code == 200
    assert [m["seq"] for m in op.get(f"/api/dialogs/{d}/messages").json()] == [1, 2]
    assert error_of(op.get("/api/dialogs/abc")) == (404, "not_found", None)
    assert error_of(op.delete(f"/api/dialogs/{d}/messages")) == (405, "method_not_allowed", None)
    big = b'{"text":"' + b"x" * (70 * 1024) + b'"}'
    r = requests.post(f"{st.url}/api/widget/dialogs/{d}/messages", data=big,
                      headers={"Content-Type": "application/json", "X-Visitor-Token": vt}, timeout=15)
    assert r.status_code == 413
    # a long-poll is woken by a commit, and ends empty when nothing comes
    box = {}

    def poll():
        box["r"] = api.visitor_messages(d, vt, after=2, wait=10)
        box["t"] = time.monotonic()

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    r = op.post(f"/api/dialogs/{d}/messages", json={"text": "operator here"})
    sent = time.monotonic()
    t.join(20)
    assert [m["text"] for m in box["r"].json()] == ["Sam joined the conversation",
                                                    "operator here"]
    t0 = time.monotonic()
    assert api.visitor_messages(d, vt, after=4, wait=1).json() == []
    return box["t"] - sent, time.monotonic() - t0


def test_lighttpd_with_external_pool(tmp_path, pg):
    st = harness.Stack(tmp_path / "ext", notifier=False, pg=pg, env=NO_LIMITS, fcgi="external")
    try:
        assert "--listen" in st.web.pool.argv and "--threads" in st.web.pool.argv
        lat, empty = smoke(st)
        print(f"\nexternal pool: long-poll woke {1000 * lat:.1f} ms after the commit; empty wait took {empty:.2f} s")
        assert lat < 0.5 and 0.9 < empty < 3
    finally:
        st.stop()


def test_apache_mod_fcgid(tmp_path, pg):
    # Long-polls under mod_fcgid when asked for (by default a mod_fcgid worker answers
    # wait= at once and its clients poll briefly: test_shared_host_fcgid.py).
    st = harness.Stack(tmp_path / "apache", server="apache", notifier=False, pg=pg,
                       env={**NO_LIMITS, "CHATAI_FCGI_POLL_MODE": "long"})
    try:
        lat, empty = smoke(st)
        print(f"\napache mod_fcgid: long-poll woke {1000 * lat:.1f} ms after the commit; empty wait took {empty:.2f} s")
        assert lat < 0.5 and 0.9 < empty < 3
    finally:
        st.stop()
