# SPDX-License-Identifier: MIT
"""Streams and the admin routes (issue 14), through the web server to the notifier: a note
reaches admin WebSocket and SSE streams, never a widget's (live or replayed); disabling an
operator closes its streams with 4401 at once."""

import time
import uuid

import pytest

import harness
from notifier_fixtures import SseClient, WsClient
from test_notifier_e2e import drain_until as until

pytestmark = pytest.mark.skipif(
    not (harness.have_binary("chatai-notifier") and harness.have_binary("chatai.fcgi")),
    reason="chatai-notifier and chatai.fcgi must be built")


def sse_until(client, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        _, ev = client.next_event(max(0.05, deadline - time.monotonic()))
        if pred(ev):
            return ev


def events_until(client, marker_id, timeout=10):
    """Every event a stream (WebSocket or SSE) delivers up to the message marker_id."""
    seen = []
    nxt = (lambda t: client.recv(t)) if isinstance(client, WsClient) else (lambda t: client.next_event(t)[1])
    deadline = time.monotonic() + timeout
    while not seen or seen[-1].get("id") != marker_id:
        seen.append(nxt(max(0.05, deadline - time.monotonic())))
    return seen


def test_note_on_admin_streams_never_on_widget_streams(stack, api, admin, assistant):
    did, vt, _ = api.create_dialog(assistant)
    a_ws = WsClient(api.ws_dialog_url(did, admin["token"]))
    a_sse = SseClient(api.sse_dialog_url(did, admin["token"]))
    w_ws = WsClient(api.ws_widget_url(did, assistant, vt))
    w_sse = SseClient(api.sse_widget_url(did, assistant, vt))
    time.sleep(0.3)
    op = api.op(admin["token"])
    note = op.post(f"/api/dialogs/{did}/notes", json={"text": "private: refund approved"})
    assert note.status_code == 201, note.text
    note = note.json()
    assert op.post(f"/api/dialogs/{did}/assign", json={"operator_id": admin["id"]}).status_code == 200
    assigned = op.get(f"/api/dialogs/{did}/messages").json()[-1]
    marker = api.operator_post(admin["token"], did, "public reply").json()
    assert until(a_ws, lambda e: e.get("id") == note["id"]) == note
    assert sse_until(a_sse, lambda e: e.get("id") == note["id"]) == note
    assert until(a_ws, lambda e: e.get("id") == assigned["id"])["event"] == "operator_assigned"
    for client in (w_ws, w_sse, WsClient(api.ws_widget_url(did, assistant, vt, since=0)),
                   SseClient(api.sse_widget_url(did, assistant, vt) + "&since=0")):
        # live, then replayed from the start: neither the note nor the operators' event
        seen = events_until(client, marker["id"])
        ids = [e.get("id") for e in seen]
        assert note["id"] not in ids and assigned["id"] not in ids
        assert all(e.get("type") != "note" for e in seen)
        client.close()
    a2 = WsClient(api.ws_dialog_url(did, admin["token"], since=0))
    assert until(a2, lambda e: e.get("id") == note["id"])["type"] == "note"
    for c in (a_ws, a_sse, a2):
        c.close()


def test_disable_closes_streams_4401(stack, api, admin):
    email, pw = f"str-{uuid.uuid4().hex[:8]}@test.example", "stream-pw-123"
    r = api.op(admin["token"]).post("/api/operators", json={"email": email, "name": "Streamer",
                                                             "role": "operator", "password": pw})
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    t1, t2 = api.login(email, pw), api.login(email, pw)
    w1 = WsClient(api.ws_inbox_url(t1))
    w2 = WsClient(api.ws_inbox_url(t2))
    s1 = SseClient(api.sse_inbox_url(t1))
    assert s1.status == 200
    time.sleep(0.3)
    r = api.op(admin["token"]).patch(f"/api/operators/{oid}", json={"disabled": True})
    assert r.status_code == 200, r.text
    assert w1.expect_close(10) == 4401
    assert w2.expect_close(10) == 4401
    assert s1.ended(10)
    assert WsClient(api.ws_inbox_url(t1)).expect_close() == 4401
    assert api.op(t1).get("/api/me").status_code == 401
    assert api.s.post("/api/auth/login", json={"email": email, "password": pw}).status_code == 401
