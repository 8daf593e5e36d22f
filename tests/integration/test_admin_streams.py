# SPDX-License-Identifier: MIT
"""Streams and the admin routes (issue 14), through the web server to the notifier: a note
reaches admin WebSocket and SSE streams, never a widget's (live or replayed); disabling an
operator closes its streams with 4401 at once."""

import time
import uuid

import pytest

import harness
from notifier_fixtures import SseClient, WsClient, WsClosed

pytestmark = pytest.mark.skipif(
    not (harness.have_binary("chatai-notifier") and harness.have_binary("chatai.fcgi")),
    reason="chatai-notifier and chatai.fcgi must be built")


def until(client, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        ev = client.recv(max(0.05, deadline - time.monotonic()))
        if pred(ev):
            return ev


def sse_until(client, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        _, ev = client.next_event(max(0.05, deadline - time.monotonic()))
        if pred(ev):
            return ev


def widget_events_until(ws, marker_id, timeout=10):
    """Every event a widget stream delivers up to the message marker_id."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        ev = ws.recv(max(0.05, deadline - time.monotonic()))
        seen.append(ev)
        if ev.get("id") == marker_id:
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
    assigned = op.post(f"/api/dialogs/{did}/assign", json={"operator_id": admin["id"]}).json()["last_message"]
    marker = api.operator_post(admin["token"], did, "public reply").json()
    assert until(a_ws, lambda e: e.get("id") == note["id"]) == note
    assert sse_until(a_sse, lambda e: e.get("id") == note["id"]) == note
    assert until(a_ws, lambda e: e.get("id") == assigned["id"])["event"] == "operator_assigned"
    for seen in (widget_events_until(w_ws, marker["id"]),):
        ids = [e.get("id") for e in seen]
        assert note["id"] not in ids and assigned["id"] not in ids
        assert all(e.get("type") != "note" for e in seen)
    seen = []
    while True:
        _, ev = w_sse.next_event(10)
        seen.append(ev)
        if ev.get("id") == marker["id"]:
            break
    assert note["id"] not in [e.get("id") for e in seen] and all(e.get("type") != "note" for e in seen)
    # replays (a widget stream resuming from 0) leave it out too; an admin replay has it
    w2 = WsClient(api.ws_widget_url(did, assistant, vt, since=0))
    assert note["id"] not in [e.get("id") for e in widget_events_until(w2, marker["id"])]
    w3 = SseClient(api.sse_widget_url(did, assistant, vt) + "&since=0")
    seen = []
    while True:
        _, ev = w3.next_event(10)
        seen.append(ev)
        if ev.get("id") == marker["id"]:
            break
    assert note["id"] not in [e.get("id") for e in seen]
    a2 = WsClient(api.ws_dialog_url(did, admin["token"], since=0))
    assert until(a2, lambda e: e.get("id") == note["id"])["type"] == "note"
    for c in (a_ws, a_sse, w_ws, w_sse, w2, w3, a2):
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
