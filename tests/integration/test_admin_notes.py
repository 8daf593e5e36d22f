# SPDX-License-Identifier: MIT
"""Private notes, assignment and message search over REST (issue 14). A note is a message of
"type": "note" in the dialog's seq order, on admin history only: never in a widget's history
or long-poll (streams: test_admin_streams.py)."""

import threading
import time
import uuid

import pytest

pytest_plugins = ["rest_fixtures"]
from rest_fixtures import error_of
from admin_helpers import expect_auth, expect_bad_bodies, new_operator


def test_note_in_seq_order_admin_only(env):
    did, vt, _ = env.new_dialog()
    assert env.api.visitor_post(did, vt, "I have a question").status_code == 201
    r = env.op().post(f"/api/dialogs/{did}/notes", json={"text": "  <b>VIP</b> customer, be nice  "})
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["type"] == "note" and note["sender"] == "manager" and note["text"] == "<b>VIP</b> customer, be nice"
    assert note["operator"] == {"id": env.op_id, "name": "Otto"} and note["dialog_id"] == did
    admin = env.op().get(f"/api/dialogs/{did}/messages").json()
    assert [m["seq"] for m in admin] == list(range(1, len(admin) + 1))
    assert admin[-1] == note
    # the widget's history, whole or from any cursor, never shows it
    w = env.widget(vt)
    for qs in ("", "?after=0", f"?after={note['seq'] - 1}"):
        ms = w.get(f"/api/widget/dialogs/{did}/messages{qs}").json()
        assert all(m["type"] == "message" for m in ms) and note["id"] not in [m["id"] for m in ms], qs
    # nor a plain message of the widget; the note moved no read position, made no answer job
    assert env.pg.sql("SELECT audience FROM messages WHERE id = %s", note["id"])[0][0] == "note"


def test_widget_longpoll_never_returns_a_note(env):
    did, vt, created = env.new_dialog()
    last = created["messages"][-1]["seq"] if created["messages"] else 0
    w = env.widget(vt)
    out = {}

    def poll():
        t0 = time.monotonic()
        out["r"] = w.get(f"/api/widget/dialogs/{did}/messages?after={last}&wait=6")
        out["t"] = time.monotonic() - t0
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    assert env.op().post(f"/api/dialogs/{did}/notes", json={"text": "secret note"}).status_code == 201
    time.sleep(0.5)
    reply = env.api.operator_post(env.op_token, did, "Hello from Otto").json()
    t.join()
    ms = out["r"].json()
    assert ms and all(m["type"] == "message" and m["text"] != "secret note" for m in ms), ms
    assert reply["id"] in [m["id"] for m in ms]
    # a long-poll that only sees a note times out empty
    seq = max(m["seq"] for m in env.op().get(f"/api/dialogs/{did}/messages").json())
    t0 = time.monotonic()
    threading.Timer(0.3, lambda: env.op().post(f"/api/dialogs/{did}/notes", json={"text": "second note"})).start()
    r = w.get(f"/api/widget/dialogs/{did}/messages?after={seq}&wait=2")
    assert r.json() == [] and time.monotonic() - t0 >= 1.5
    # while the admin long-poll gets it
    seq2 = seq + 1
    r = env.op().get(f"/api/dialogs/{did}/messages?after={seq}&wait=2").json()
    assert [m["type"] for m in r] == ["note"] and r[0]["seq"] == seq2


def test_note_refusals(env):
    did, _, _ = env.new_dialog()
    op = env.op()
    for body, field in (({}, "text"), ({"text": ""}, "text"), ({"text": "   "}, "text"), ({"text": 3}, "text"),
                        ({"text": "x" * 4001}, "text")):
        assert error_of(op.post(f"/api/dialogs/{did}/notes", json=body)) == (400, "validation_failed", field)
    assert error_of(op.post("/api/dialogs/999999999/notes", json={"text": "x"}))[:2] == (404, "not_found")
    expect_auth(env, "POST", f"/api/dialogs/{did}/notes", False, {"text": "x"})
    expect_bad_bodies(op, "POST", f"/api/dialogs/{did}/notes")
    r = op.post(f"/api/dialogs/{did}/notes", json={"text": "'); DELETE FROM messages;--"})
    assert r.status_code == 201 and r.json()["text"] == "'); DELETE FROM messages;--"


def test_assign(env):
    did, vt, _ = env.new_dialog()
    oid, _, _, _ = new_operator(env)
    r = env.op().post(f"/api/dialogs/{did}/assign", json={"operator_id": oid})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["id"] == did and d["assigned_to"] == {"id": oid, "name": "New One"} and d["status"] == "ai"
    ev = env.op().get(f"/api/dialogs/{did}/messages").json()[-1]
    assert ev["sender"] == "system" and ev["event"] == "operator_assigned" and "New One" in ev["text"]
    assert ev["seq"] == d["last_seq"]
    # last_message is what the visitor could see: never the operators' event, never a note
    assert d["last_message"] is None or d["last_message"]["id"] != ev["id"]
    env.op().post(f"/api/dialogs/{did}/notes", json={"text": "note after"})
    r = env.widget(vt).post(f"/api/widget/dialogs/{did}/handoff")
    assert r.status_code == 200, r.text
    assert "note after" not in r.text and "operator_assigned" not in r.text
    wm = env.widget(vt).get(f"/api/widget/dialogs/{did}/messages").json()
    assert ev["id"] not in [m["id"] for m in wm]
    for body, field in (({}, "operator_id"), ({"operator_id": "1"}, "operator_id"), ({"operator_id": 0}, "operator_id"),
                        ({"operator_id": 1.5}, "operator_id"), ({"operator_id": 999999999}, "operator_id")):
        assert error_of(env.op().post(f"/api/dialogs/{did}/assign", json=body)) == \
            (400, "validation_failed", field), body
    # a disabled operator cannot be assigned
    env.admin().patch(f"/api/operators/{oid}", json={"disabled": True})
    assert error_of(env.op().post(f"/api/dialogs/{did}/assign", json={"operator_id": oid})) == \
        (400, "validation_failed", "operator_id")
    assert error_of(env.op().post("/api/dialogs/999999999/assign", json={"operator_id": env.op_id}))[:2] == \
        (404, "not_found")
    assert env.op().post(f"/api/dialogs/{did}/close").status_code == 200
    assert error_of(env.op().post(f"/api/dialogs/{did}/assign", json={"operator_id": env.op_id}))[:2] == \
        (409, "conflict")
    expect_auth(env, "POST", f"/api/dialogs/{did}/assign", False, {"operator_id": env.op_id})
    expect_bad_bodies(env.op(), "POST", f"/api/dialogs/{did}/assign")


def test_search(env):
    word = "zq" + uuid.uuid4().hex[:8]
    d1, vt1, _ = env.new_dialog(page_url="https://shop.example/a")
    d2, vt2, _ = env.new_dialog(env.silent)
    m1 = env.api.visitor_post(d1, vt1, f"my parcel {word} never arrived").json()["user_message"]
    m2 = env.api.visitor_post(d2, vt2, f"where is {word}? <script>alert(1)</script>").json()["user_message"]
    env.op().post(f"/api/dialogs/{d2}/close")
    r = env.op().get("/api/search", params={"q": word})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["message"]["id"] for x in res] == [m2["id"], m1["id"]]  # newest first
    x2, x1 = res
    assert set(x1) == {"dialog_id", "message", "snippet", "status", "assistant", "page_url"}
    assert x1["dialog_id"] == d1 and x1["message"] == m1 and x1["status"] == "ai"
    assert x1["page_url"] == "https://shop.example/a" and x1["assistant"]["id"] == env.assistant
    assert x2["status"] == "closed" and x2["page_url"] is None
    assert word in x1["snippet"] and "<b>" not in x1["snippet"]
    # ts_headline's excerpt: tag-like text is left out, no markup is added
    assert "alert(1)" in x2["snippet"] and "<" not in x2["snippet"]
    assert len(env.op().get("/api/search", params={"q": word, "limit": 1}).json()["results"]) == 1
    assert env.op().get("/api/search", params={"q": "'; DROP TABLE messages;--"}).status_code == 200
    assert env.op().get("/api/search", params={"q": "& | ! ( :*"}).json() == {"results": []}
    for params, field in (({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 1001}, "q"), ({"q": "a", "limit": 0}, "limit"),
                          ({"q": "a", "limit": 101}, "limit"), ({"q": "a", "limit": "ten"}, "limit")):
        assert error_of(env.op().get("/api/search", params=params)) == (400, "validation_failed", field), params
    r = env.op().get("/api/search?q=%ff")
    assert r.status_code == 400
    expect_auth(env, "GET", "/api/search?q=x", False)
    # the index is there
    assert env.pg.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_text_fts_idx'")[0][0] == 1
