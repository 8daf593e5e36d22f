# SPDX-License-Identifier: MIT
"""The server configurations of lighttpd-conf/ and apache-conf/ with the real parts behind
them: static files and their headers, /api/ reaching chatai.fcgi, /ws/ upgraded and /sse/
streamed unbuffered through each web server to the notifier. Also checks the harness itself."""

import json
import time

import pytest
import requests

import harness

SERVERS = ["lighttpd", "apache"]


@pytest.fixture(scope="module", params=SERVERS)
def web(request, pg, tmp_path_factory):
    """pg + the notifier + one kind of web server (module scope: one of each)."""
    s = harness.Stack(tmp_path_factory.mktemp(f"web-{request.param}"), server=request.param,
                      notifier=True, pg=pg)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def web_admin(web):
    email = f"stack-admin-{web.server_kind}@test.example"
    harness.make_operator(web.pg, email, "stack-password", "Stack Admin", "admin")
    return harness.Api(web.url).login(email, "stack-password")


def test_static_files_and_headers(web):
    r = requests.get(web.url + "/admin/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # WebSockets only to our own origin ('self' covers ws:/wss: of it): issue 12, item 11
    for page, policy in (("/admin/", csp), ("/demo/", requests.get(web.url + "/demo/", timeout=10)
                                                         .headers["Content-Security-Policy"])):
        connect = [d.strip() for d in policy.split(";") if d.strip().startswith("connect-src")]
        assert connect == ["connect-src 'self'"], (page, policy)
    js = requests.get(web.url + "/widget/chatai.js", timeout=10)
    assert js.status_code == 200
    # ES modules are refused by browsers unless served as JavaScript
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert js.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.get(web.url + "/no/such/file.html", timeout=10).status_code == 404
    assert requests.get(web.url + "/local.mk", timeout=10).status_code in (403, 404)


def test_api_reaches_fcgi(web):
    r = requests.get(web.url + "/api/me", timeout=10)
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"]["code"] == "unauthorized"
    r = requests.post(web.url + "/api/auth/login", data=b"{not json", timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_login_and_query_string_pass_through(web, web_admin):
    api = harness.Api(web.url)
    me = api.op(web_admin).get("/api/me")
    assert me.status_code == 200 and me.json()["role"] == "admin"
    r = api.op(web_admin).get("/api/dialogs", params={"limit": "1", "status": "ai"})
    assert r.status_code == 200 and "dialogs" in r.json()


def test_websocket_upgrade_through_proxy(web, web_admin):
    api = harness.Api(web.url)
    aid = harness.make_assistant(web.pg, "WS bot")
    did, vt, created = api.create_dialog(aid)
    with harness.WsClient(api.ws_widget_url(did, aid, vt)) as ws:
        r = api.operator_post(web_admin, did, "hello through the proxy")
        assert r.status_code == 201, r.text
        got = ws.recv_until(lambda ev: ev.get("type") == "message" and ev.get("sender") == "manager")
        assert got["text"] == "hello through the proxy" and got["dialog_id"] == did
        ws.send({"type": "ping"})
        assert ws.recv_until(lambda ev: ev.get("type") == "pong")
    # a bad token: accepted, then closed with 4401
    with harness.WsClient(api.ws_dialog_url(did, "x" * 43)) as ws:
        assert ws.wait_closed()[0] == 4401


def test_sse_is_streamed_unbuffered(web, web_admin):
    api = harness.Api(web.url)
    aid = harness.make_assistant(web.pg, "SSE bot")
    did, vt, _ = api.create_dialog(aid)
    with harness.SseClient(api.sse_widget_url(did, aid, vt), headers=[("Accept-Encoding", "gzip")]) as sse:
        assert sse.status == 200
        assert sse.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in sse.headers
        t0 = time.monotonic()
        r = api.operator_post(web_admin, did, "sse-probe-1")
        assert r.status_code == 201
        ev = sse.next_event(timeout=5)
        while json.loads(ev["data"]).get("text") != "sse-probe-1":
            ev = sse.next_event(timeout=5)
        # one event must not wait for the next one (a buffering proxy would hold it)
        assert time.monotonic() - t0 < 2.0
        assert ev["id"] == str(json.loads(ev["data"])["seq"])
    with harness.SseClient(api.sse_widget_url(did, aid, "x" * 43)) as bad:
        assert bad.status in (401, 403)
        assert json.loads(bad.body())["error"]["code"] in ("unauthorized", "forbidden")


def test_harness_reports_missing_binaries(monkeypatch, tmp_path):
    monkeypatch.setattr(harness, "BUILD_DIR", tmp_path)
    with pytest.raises(harness.HarnessError, match="chatai-notifier is not built"):
        harness.binary("chatai-notifier")
    missing = harness._Missing("chatai-ai")
    assert not missing
    with pytest.raises(harness.HarnessError, match="chatai-ai is not built"):
        missing.url


def test_process_stop_escalates_to_sigkill(tmp_path):
    p = harness.Process(["/bin/sh", "-c", "trap '' TERM; echo ready; sleep 60"], log_path=tmp_path / "p.log")
    p.start()
    harness.wait_until(lambda: "ready" in p.log(), 5, message="ready")
    t0 = time.monotonic()
    p.stop(timeout=1)
    assert not p.running and time.monotonic() - t0 < 5
