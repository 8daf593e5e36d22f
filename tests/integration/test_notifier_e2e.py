# SPDX-License-Identifier: MIT
"""End to end: writes through the REST API (chatai.fcgi behind the web server), streams
through the web server's /ws/ and /sse/ proxy to the notifier."""

import time

import harness
from notifier_fixtures import SseClient, WsClient

# A missing chatai-notifier or chatai.fcgi is an error, not a skip: harness.binary() raises
# naming the file and the make target that builds it.


def test_rest_to_ws_routing_through_proxy(stack, api, admin, assistant):
    did, vt, created = api.create_dialog(assistant, page_url="https://shop.example/cart")
    a = WsClient(api.ws_dialog_url(did, admin["token"]))
    w = WsClient(api.ws_widget_url(did, assistant, vt))
    inbox = WsClient(api.ws_inbox_url(admin["token"]))
    time.sleep(0.3)

    r = api.visitor_post(did, vt, "Hello, I need help", client_id="c-1")
    assert r.status_code == 201, r.text
    um = r.json()["user_message"]
    got = harness.recv_until(a.recv, lambda e: e.get("type") == "message")
    assert got == um and got["sender"] == "user" and got["client_id"] == "c-1"
    assert harness.recv_until(inbox.recv, lambda e: e.get("type") == "message") == um

    r = api.operator_post(admin["token"], did, "Hi, Ada here")
    assert r.status_code == 201, r.text
    reply = r.json()
    # The widget sees the operator's reply (after the takeover notice), never the visitor's own message.
    seen = []
    while True:
        ev = w.recv(10)
        if ev.get("type") == "message":
            seen.append(ev)
            if ev["id"] == reply["id"]:
                break
    assert all(m["sender"] != "user" for m in seen)
    assert seen[-1]["sender"] == "manager" and seen[-1]["text"] == "Hi, Ada here"
    assert harness.recv_until(a.recv, lambda e: e.get("id") == reply["id"])["text"] == "Hi, Ada here"

    # Typing through REST reaches the other side only.
    r = api.s.post(f"/api/widget/dialogs/{did}/typing", json={"state": "start"},
                   headers={"X-Visitor-Token": vt})
    assert r.status_code == 204, r.text
    assert harness.recv_until(a.recv, lambda e: e.get("type", "").startswith("typing")) == \
        {"type": "typing_start", "dialog_id": did, "who": "user"}
    for c in (a, w, inbox):
        c.close()


def test_rest_to_sse_through_proxy(stack, api, admin, assistant):
    did, vt, _ = api.create_dialog(assistant)
    s = SseClient(api.sse_widget_url(did, assistant, vt))
    assert s.status == 200
    time.sleep(0.3)
    r = api.operator_post(admin["token"], did, "Over SSE")
    assert r.status_code == 201, r.text
    while True:
        eid, ev = s.next_event(10)
        if ev.get("type") == "message" and ev["text"] == "Over SSE":
            assert int(eid) == ev["seq"]
            break
    s.close()


def test_resume_through_proxy(stack, api, admin, assistant):
    did, vt, _ = api.create_dialog(assistant)
    sent = []
    for k in range(5):
        r = api.operator_post(admin["token"], did, f"m{k}")
        assert r.status_code == 201, r.text
        sent.append(r.json())
    c = WsClient(api.ws_dialog_url(did, admin["token"], since=sent[1]["seq"]))
    got = []
    while len(got) < 3:
        ev = c.recv(10)
        if ev.get("type") == "message":
            got.append(ev)
    assert got == sent[2:]
    c.close()


def test_logout_closes_streams(stack, api, admin):
    token = api.login(admin["email"], admin["password"])
    w = WsClient(api.ws_inbox_url(token))
    s = SseClient(api.sse_inbox_url(token))
    assert s.status == 200
    time.sleep(0.3)
    r = api.op(token).post("/api/auth/logout")
    assert r.status_code == 204, r.text
    assert w.expect_close(10) == 4401
    assert s.ended(10)
    c = WsClient(api.ws_inbox_url(token))
    assert c.expect_close() == 4401
