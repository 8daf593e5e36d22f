# SPDX-License-Identifier: MIT
"""Issue 13, "one home per rule": REST, the WebSocket and SSE streams and chatai-ctl apply
the same allowed-origin rule (common/origin.h): wildcard subdomains, default ports, case.

An assistant allowing https://*.shop.example and https://plain.example:443 is accepted from
https://a.shop.example and https://plain.example alike on every path, and refused from
look-alikes on every path. Before, the streams compared strings in SQL and refused the
first two (SSE 403, close 4403).
"""

import urllib.parse

import pytest

import harness
from notifier_fixtures import SseClient, WsClient, WsClosed

pytestmark = pytest.mark.skipif(
    not (harness.have_binary("chatai-notifier") and harness.have_binary("chatai.fcgi")
         and harness.have_binary("chatai-ctl")),
    reason="chatai-notifier, chatai.fcgi and chatai-ctl must be built")

ALLOWED = ["https://a.shop.example", "https://x.y.shop.example", "https://plain.example",
           "https://plain.example:443", "HTTPS://A.Shop.Example"]
REFUSED = ["https://shop.example.evil", "http://a.shop.example", "https://shop.example",
           "https://a.shop.example:8443", "http://plain.example", "https://plain.example:8443",
           "https://xplain.example", "null", "https://a.shop.example.evil.example"]


@pytest.fixture(scope="module")
def site(pg):
    """An assistant stored by chatai-ctl with origins written the way people type them."""
    aid = harness.make_assistant(pg, "Origin rule", allowed_origins=(
        "https://*.Shop.Example", "HTTPS://plain.example:443"))
    return aid


@pytest.fixture
def api(unlimited):
    # Many dialogs from one address: a stack without rate limits (conftest.unlimited).
    return unlimited["api"]


@pytest.fixture
def admin(unlimited):
    return {"token": unlimited["token"]}


def widget_q(aid, vt):
    return urllib.parse.urlencode({"assistant_id": aid, "visitor_token": vt})


def ws_outcome(url, origin):
    """'open' when the socket stays open and authenticated, else its close code."""
    try:
        c = WsClient(url, origin=origin)
    except ConnectionRefusedError as e:
        return str(e)
    try:
        c.expect_silence(0.4)
    except WsClosed as e:
        return e.code
    finally:
        c.close()
    return "open"


def test_ctl_stores_the_normal_form(pg, site):
    row = pg.sql("SELECT allowed_origins FROM assistants WHERE id = %s", site)[0][0]
    assert row == ["https://*.shop.example", "https://plain.example"]


def test_rest_stores_the_same_normal_form(api, admin):
    r = api.op(admin["token"]).post("/api/assistants", json={
        "name": "Origin rule (REST)", "allowed_origins": ["https://*.Shop.Example", "HTTPS://plain.example:443"]})
    assert r.status_code == 201, r.text
    assert r.json()["allowed_origins"] == ["https://*.shop.example", "https://plain.example"]
    for bad in (["https://shop.example/"], ["*"], ["https://*.[::1]"], ["https://a..b"]):
        r = api.op(admin["token"]).post("/api/assistants", json={"name": "x", "allowed_origins": bad})
        assert r.status_code == 400 and r.json()["error"]["field"] == "allowed_origins", (bad, r.text)


@pytest.mark.parametrize("bad", ["https://shop.example/", "https://*.[::1]", "shop.example", "https://a..b",
                                 "https://shop.example:0", "*"])
def test_ctl_refuses_what_rest_refuses(pg, bad):
    cp = harness.run_ctl(pg.url, "assistant", "add", "x", "--origin", bad, check=False)
    assert cp.returncode != 0 and "is not an origin" in cp.stderr, (bad, cp.stderr)


@pytest.mark.parametrize("origin", ALLOWED)
def test_allowed_everywhere(api, site, origin):
    h = {"Origin": origin}
    did, vt, _ = api.create_dialog(site, headers=h)
    r = api.visitor_post(did, vt, "hello")
    assert r.status_code == 201
    r = api.s.post(f"/api/widget/dialogs/{did}/messages", json={"sender": "user", "text": "from " + origin},
                   headers={**h, "X-Visitor-Token": vt})
    assert r.status_code == 201, r.text
    assert r.headers["Access-Control-Allow-Origin"] == origin
    r = api.s.options(f"/api/widget/dialogs/{did}/messages",
                      headers={**h, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204, r.text
    # SSE and WebSocket through the web server, with the token and with a ticket
    s = SseClient(f"{api.base_url}/sse/widget/dialogs/{did}?{widget_q(site, vt)}", headers=h)
    assert s.status == 200, s.body
    assert s.headers["access-control-allow-origin"] == origin
    s.close()
    assert ws_outcome(f"{api.ws_base}/ws/widget/dialogs/{did}?{widget_q(site, vt)}", origin) == "open"
    t = api.s.post(f"/api/widget/dialogs/{did}/stream-tickets", headers={**h, "X-Visitor-Token": vt})
    assert t.status_code == 201, t.text
    q = urllib.parse.urlencode({"assistant_id": site, "ticket": t.json()["ticket"]})
    assert ws_outcome(f"{api.ws_base}/ws/widget/dialogs/{did}?{q}", origin) == "open"


def test_a_stream_delivers_to_a_wildcard_origin(pg, api, site):
    h = {"Origin": "https://a.shop.example"}
    did, vt, _ = api.create_dialog(site, headers=h)
    # since=0: the message is replayed if it is stored before the subscription is live
    w = WsClient(f"{api.ws_base}/ws/widget/dialogs/{did}?{widget_q(site, vt)}&since=0", origin=h["Origin"])
    try:
        pg.sql("SELECT 1 FROM chatai_post_message(%s, 'manager', %s)", did, "over the socket")
        ev = w.recv(10)
        while ev.get("type") != "message":
            ev = w.recv(10)
        assert ev["text"] == "over the socket"
    finally:
        w.close()


@pytest.mark.parametrize("origin", REFUSED)
def test_refused_everywhere(api, site, origin):
    h = {"Origin": origin}
    r = api.s.post("/api/widget/dialogs", json={"assistant_id": site}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    did, vt, _ = api.create_dialog(site)  # no Origin: not a browser, not restricted
    r = api.s.post(f"/api/widget/dialogs/{did}/messages", json={"sender": "user", "text": "x"},
                   headers={**h, "X-Visitor-Token": vt})
    assert r.status_code == 403, r.text
    s = SseClient(f"{api.base_url}/sse/widget/dialogs/{did}?{widget_q(site, vt)}", headers=h)
    assert s.status == 403, (s.status, getattr(s, "body", ""))
    s.close()
    assert ws_outcome(f"{api.ws_base}/ws/widget/dialogs/{did}?{widget_q(site, vt)}", origin) == 4403
    # without an Origin header the same streams open: the refusal above is the origin's
    assert ws_outcome(f"{api.ws_base}/ws/widget/dialogs/{did}?{widget_q(site, vt)}", None) == "open"
