# SPDX-License-Identifier: MIT
"""Streams and the admin routes (issue 14), through the web server to the notifier: a note
reaches admin WebSocket and SSE streams, never a widget's (live or replayed); disabling an
operator, or giving it a new password, closes its streams with 4401 at once (PATCH
/api/me: every session but the one asking)."""

import time
import uuid

import harness
from admin_helpers import wait_status
from notifier_fixtures import SseClient, WsClient
from rest_fixtures import error_of

# A missing chatai-notifier or chatai.fcgi is an error, not a skip: harness.binary() raises
# naming the file and the make target that builds it.


def until(client, pred, timeout=10):
    # test_notifier_e2e.drain_until is now harness.recv_until (h13dups)
    return harness.recv_until(client.recv, pred, timeout)


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


def new_streamer(api, admin, pw="stream-pw-123"):
    """A fresh operator made over REST by the admin: (id, email)."""
    email = f"pwd-{uuid.uuid4().hex[:8]}@test.example"
    r = api.op(admin["token"]).post("/api/operators", json={"email": email, "name": "Pw Streamer",
                                                             "role": "operator", "password": pw})
    assert r.status_code == 201, r.text
    return r.json()["id"], email


def gone_everywhere(api, token, ws):
    """The session is revoked: its stream closed 4401, a new one refused, REST 401."""
    assert ws.expect_close(10) == 4401
    assert WsClient(api.ws_inbox_url(token)).expect_close() == 4401
    r = wait_status(lambda: api.op(token).get("/api/me"), 401)
    assert error_of(r)[:2] == (401, "unauthorized")


def passwords_swapped(api, email, old, new):
    """The old password is refused, the new one signs in (and its session works)."""
    r = api.s.post("/api/auth/login", json={"email": email, "password": old})
    assert error_of(r)[:2] == (401, "invalid_credentials")
    assert api.op(api.login(email, new)).get("/api/me").json()["email"] == email


def test_admin_password_reset_ends_every_session(stack, api, admin):
    oid, email = new_streamer(api, admin)
    t1, t2 = api.login(email, "stream-pw-123"), api.login(email, "stream-pw-123")
    w1, w2 = WsClient(api.ws_inbox_url(t1)), WsClient(api.ws_inbox_url(t2))
    time.sleep(0.3)
    r = api.op(admin["token"]).patch(f"/api/operators/{oid}", json={"password": "reset-by-admin-1"})
    assert r.status_code == 200, r.text
    gone_everywhere(api, t1, w1)
    gone_everywhere(api, t2, w2)
    passwords_swapped(api, email, "stream-pw-123", "reset-by-admin-1")
    # the admin's own session is untouched
    assert api.op(admin["token"]).get("/api/me").status_code == 200


def test_ctl_passwd_ends_every_session(stack, api, admin):
    oid, email = new_streamer(api, admin)
    t1 = api.login(email, "stream-pw-123")
    w1 = WsClient(api.ws_inbox_url(t1))
    time.sleep(0.3)
    cp = harness.run_ctl(stack.pg.url, "operator", "passwd", email, stdin="reset-by-ctl-12\n", check=False)
    assert cp.returncode == 0, cp.stderr
    assert f"operator {oid} password changed (1 session(s) revoked)" in cp.stdout
    gone_everywhere(api, t1, w1)
    passwords_swapped(api, email, "stream-pw-123", "reset-by-ctl-12")


def test_me_password_ends_the_other_sessions_only(stack, api, admin, assistant):
    oid, email = new_streamer(api, admin)
    mine, other = api.login(email, "stream-pw-123"), api.login(email, "stream-pw-123")
    w_mine, w_other = WsClient(api.ws_inbox_url(mine)), WsClient(api.ws_inbox_url(other))
    time.sleep(0.3)
    r = api.op(mine).patch("/api/me", json={"password": "my-own-new-pw", "current_password": "stream-pw-123"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == oid
    gone_everywhere(api, other, w_other)
    # the session that asked keeps working: REST, and its stream still delivers
    assert api.op(mine).get("/api/me").status_code == 200
    did, vt, _ = api.create_dialog(assistant)
    um = api.visitor_post(did, vt, "still there?").json()["user_message"]
    assert until(w_mine, lambda e: e.get("type") == "message" and e.get("id") == um["id"]) == um
    assert stack.pg.sql("SELECT count(*) FROM sessions WHERE operator_id = %s AND revoked_at IS NULL",
                        oid) == [(1,)]
    passwords_swapped(api, email, "stream-pw-123", "my-own-new-pw")
    # a refused change (wrong current password) revokes nothing
    r = api.op(mine).patch("/api/me", json={"password": "yet-another-pw", "current_password": "nope-nope-1"})
    assert error_of(r) == (400, "validation_failed", "current_password")
    assert api.op(mine).get("/api/me").status_code == 200
    w_mine.close()
