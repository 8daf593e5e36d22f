# SPDX-License-Identifier: MIT
"""REST API of chatai.fcgi behind lighttpd on a real PostgreSQL: every endpoint's success
path and its documented refusals (docs/api.md)."""

import json
import os
import select
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests

import harness
pytest_plugins = ["rest_fixtures"]  # its fixtures, shared by every module of the session
from rest_fixtures import JSON, error_of, fingerprint


def listen(pg):
    """A psycopg2 connection LISTENing on channel chatai."""
    c = pg.connect()
    c.cursor().execute("LISTEN chatai")
    return c


def notifications(conn, timeout=2.0, want=None):
    """The JSON payloads received within timeout (stops early once `want` matched)."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([conn], [], [], max(0.0, deadline - time.monotonic()))[0]:
            conn.poll()
            while conn.notifies:
                out.append(json.loads(conn.notifies.pop(0).payload))
            if want and any(want(p) for p in out):
                break
    return out


# ---- operators: login, logout, me

def test_login_me_logout(env):
    api = env.api
    r = api.s.post("/api/auth/login", json={"email": env.op_email.upper(), "password": env.op_password})
    assert r.status_code == 200, r.text
    j = r.json()
    assert set(j) == {"token", "user"}
    assert j["user"] == {"id": env.op_id, "email": env.op_email, "name": "Otto", "role": "operator"}
    tok = j["token"]
    assert len(tok) == 43
    s = api.op(tok)
    me = s.get("/api/me")
    assert me.status_code == 200 and me.json()["id"] == env.op_id
    assert me.headers["Cache-Control"] == "no-store"
    # the token is stored hashed only
    assert env.pg.sql("SELECT count(*) FROM sessions WHERE token_hash = %s", tok)[0][0] == 0
    sid = env.pg.sql("SELECT max(id) FROM sessions WHERE operator_id = %s", env.op_id)[0][0]
    lc = listen(env.pg)
    try:
        r = s.post("/api/auth/logout")
        assert r.status_code == 204 and r.text == ""
        got = notifications(lc, want=lambda p: p.get("k") == "revoke")
        assert {"k": "revoke", "session_id": sid} in got
    finally:
        lc.close()
    assert error_of(s.get("/api/me")) == (401, "unauthorized", None)
    assert error_of(s.post("/api/auth/logout")) == (401, "unauthorized", None)


def test_login_refusals_look_the_same(env):
    api = env.api

    def timed(email):
        t0 = time.monotonic()
        r = api.s.post("/api/auth/login", json={"email": email, "password": "wrong"})
        return time.monotonic() - t0, r

    known, unknown = [], []
    for _ in range(5):
        t, r1 = timed(env.op_email)
        known.append(t)
        t, r2 = timed("nobody-" + env.op_email)
        unknown.append(t)
        assert error_of(r1) == (401, "invalid_credentials", None)
        assert error_of(r2) == (401, "invalid_credentials", None)
        assert r1.json() == r2.json()
    k, u = sorted(known)[2], sorted(unknown)[2]
    print(f"\nlogin refusal, median of 5: known email {1000 * k:.1f} ms, unknown email {1000 * u:.1f} ms")
    # the unknown email pays for one hash check too (yescrypt: tens of ms), so the two
    # cannot be told apart by time
    assert u > 0.3 * k       # without the dummy check it would be ~1 ms against ~100 ms
    assert error_of(api.s.post("/api/auth/login", json={"email": env.op_email})) == \
        (400, "validation_failed", "password")


def test_bearer_token_forms(env):
    s = requests.Session()
    u = env.url + "/api/me"
    for h in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"},
              {"Authorization": "Bearer " + "A" * 43}, {"Authorization": "Bearer " + env.op_token + "x"},
              {"Authorization": "Bearer ' OR 1=1 --"}):
        assert error_of(s.get(u, headers=h)) == (401, "unauthorized", None), h
    assert s.get(u, headers={"Authorization": "bearer  " + env.op_token}).status_code == 200


def test_expired_token(env):
    tok = env.api.login(env.op_email, env.op_password)
    s = env.api.op(tok)
    assert s.get("/api/me").status_code == 200
    env.pg.sql("UPDATE sessions SET expires_at = now() - interval '1 second'"
               " WHERE id = (SELECT max(id) FROM sessions WHERE operator_id = %s)", env.op_id)
    # The documented bound (auth_cache_ttl in docs/api.md): refused once the sessions
    # NOTIFY reaches each chatai.fcgi process, never later than the cache's TTL; the
    # stack's processes may each have cached the session: wait until eight tries in a row
    # (spread over the processes) are refused.
    harness.wait_until(lambda: all(s.get("/api/me").status_code == 401 for _ in range(8)), timeout=5,
                       message="the expired session refused by every process")
    assert error_of(s.get("/api/me")) == (401, "unauthorized", None)


# ---- assistants and knowledge

def test_assistants_crud_and_roles(env):
    adm, op = env.admin(), env.op()
    r = adm.post("/api/assistants", json={"name": "  Shop bot ", "greeting": "Hey",
                                          "allowed_origins": ["https://Shop.Example", "https://*.b.example:8443"]})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["name"] == "Shop bot" and a["greeting"] == "Hey"
    assert a["allowed_origins"] == ["https://shop.example", "https://*.b.example:8443"]
    assert set(a) >= {"id", "name", "greeting", "allowed_origins", "created_at", "updated_at"}
    assert op.get(f"/api/assistants/{a['id']}").json() == a
    ids = [x["id"] for x in op.get("/api/assistants").json()["assistants"]]
    assert a["id"] in ids and ids == sorted(ids)
    r = adm.patch(f"/api/assistants/{a['id']}", json={"greeting": ""})
    assert r.status_code == 200 and r.json()["greeting"] == "" and r.json()["name"] == "Shop bot"
    r = adm.patch(f"/api/assistants/{a['id']}", json={"allowed_origins": []})
    assert r.json()["allowed_origins"] == []
    # role operator may read but not write
    assert error_of(op.post("/api/assistants", json={"name": "x"})) == (403, "forbidden", None)
    assert error_of(op.patch(f"/api/assistants/{a['id']}", json={"name": "x"})) == (403, "forbidden", None)
    assert error_of(adm.patch("/api/assistants/999999999", json={"name": "x"})) == (404, "not_found", None)
    assert error_of(adm.get("/api/assistants/999999999")) == (404, "not_found", None)
    assert error_of(adm.patch(f"/api/assistants/{a['id']}", json={})) == (400, "validation_failed", None)
    assert error_of(adm.post("/api/assistants", json={"name": "x", "allowed_origins": ["shop.example"]})) == \
        (400, "validation_failed", "allowed_origins")
    assert error_of(adm.post("/api/assistants", json={"greeting": "x"})) == (400, "validation_failed", "name")


def test_knowledge(env):
    adm, op = env.admin(), env.op()
    aid = env.silent
    r = adm.post(f"/api/assistants/{aid}/knowledge", json={"question": "Opening hours?", "answer": "9 to 5"})
    assert r.status_code == 201, r.text
    k = r.json()
    assert k["assistant_id"] == aid and k["question"] == "Opening hours?" and k["answer"] == "9 to 5"
    lst = op.get(f"/api/assistants/{aid}/knowledge").json()["knowledge"]
    assert k in lst
    assert error_of(op.post(f"/api/assistants/{aid}/knowledge", json={"question": "q", "answer": "a"})) == \
        (403, "forbidden", None)
    assert error_of(op.delete(f"/api/knowledge/{k['id']}")) == (403, "forbidden", None)
    assert error_of(adm.post("/api/assistants/999999999/knowledge", json={"question": "q", "answer": "a"})) == \
        (404, "not_found", None)
    assert error_of(adm.get("/api/assistants/999999999/knowledge")) == (404, "not_found", None)
    assert error_of(adm.post(f"/api/assistants/{aid}/knowledge", json={"question": "q"})) == \
        (400, "validation_failed", "answer")
    assert adm.delete(f"/api/knowledge/{k['id']}").status_code == 204
    assert error_of(adm.delete(f"/api/knowledge/{k['id']}")) == (404, "not_found", None)
    assert k not in op.get(f"/api/assistants/{aid}/knowledge").json()["knowledge"]


# ---- widget: assistant, dialog creation

def test_widget_assistant_and_presence(env):
    r = env.api.s.get(f"/api/widget/assistants/{env.assistant}")
    assert r.status_code == 200
    j = r.json()
    assert set(j) == {"id", "name", "greeting", "operators_online", "poll", "mail"}
    # lighttpd's workers hold long-polls (short polling: test_shared_host*.py)
    assert j["poll"] == {"mode": "long", "wait_s": 30}
    assert j["greeting"] == "Hello! How can I help?"
    assert j["operators_online"] is True   # our operators just made requests
    env.pg.sql("UPDATE operators SET last_seen_at = now() - interval '3 minutes'")
    assert env.api.s.get(f"/api/widget/assistants/{env.assistant}").json()["operators_online"] is False
    # an authenticated request marks the operator seen again
    assert env.op().get("/api/me").status_code == 200
    assert env.api.s.get(f"/api/widget/assistants/{env.assistant}").json()["operators_online"] is True
    assert error_of(env.api.s.get("/api/widget/assistants/999999999")) == (404, "not_found", None)


def test_create_dialog_with_greeting(env):
    r = env.api.s.post("/api/widget/dialogs", json={"assistant_id": env.assistant, "page_url": "https://shop.example/cart"},
                       headers={"User-Agent": "TestBrowser/1.0"})
    assert r.status_code == 201, r.text
    j = r.json()
    assert set(j) == {"dialog_id", "visitor_token", "messages"}
    assert len(j["visitor_token"]) == 43
    (g,) = j["messages"]
    assert g["sender"] == "ai" and g["seq"] == 1 and g["text"] == "Hello! How can I help?"
    assert g["type"] == "message" and g["dialog_id"] == j["dialog_id"] and g["client_id"] is None
    assert g["timestamp"].endswith("Z") and len(g["timestamp"]) == 27
    d = env.op().get(f"/api/dialogs/{j['dialog_id']}").json()
    assert d["status"] == "ai" and d["last_seq"] == 1 and d["assigned_to"] is None
    assert d["visitor"] == {"page_url": "https://shop.example/cart", "user_agent": "TestBrowser/1.0"}
    # stored hashed only
    assert env.pg.sql("SELECT count(*) FROM dialogs WHERE visitor_token_hash = %s", j["visitor_token"])[0][0] == 0
    kinds = [k for (k,) in env.pg.sql("SELECT kind FROM inbox_events WHERE dialog_id = %s ORDER BY id", j["dialog_id"])]
    assert kinds[0] == "dialog_created"


def test_create_dialog_without_greeting(env):
    d, vt, j = env.new_dialog(env.silent)
    assert j["messages"] == []
    assert env.widget(vt).get(f"/api/widget/dialogs/{d}/messages").json() == []


def test_create_dialog_refusals(env):
    s = env.api.s
    assert error_of(s.post("/api/widget/dialogs", json={"assistant_id": 999999999})) == (404, "not_found", None)
    assert error_of(s.post("/api/widget/dialogs", json={"assistant_id": "1"})) == \
        (400, "validation_failed", "assistant_id")
    assert error_of(s.post("/api/widget/dialogs", json={})) == (400, "validation_failed", "assistant_id")
    assert error_of(s.post("/api/widget/dialogs", json={"assistant_id": env.assistant, "page_url": 7})) == \
        (400, "validation_failed", "page_url")


# ---- messages, both sides

def test_visitor_and_operator_messages(env):
    d, vt, _ = env.new_dialog()
    w = env.widget(vt)
    r = w.post(f"/api/widget/dialogs/{d}/messages", json={"sender": "user", "text": "  Where is my order? ",
                                                         "client_id": "c-1"})
    assert r.status_code == 201, r.text
    um = r.json()["user_message"]
    assert um["sender"] == "user" and um["text"] == "Where is my order?" and um["seq"] == 2
    assert um["client_id"] == "c-1"
    # same client_id: 200, the first message, stored once
    r2 = w.post(f"/api/widget/dialogs/{d}/messages", json={"sender": "user", "text": "different", "client_id": "c-1"})
    assert r2.status_code == 200 and r2.json()["user_message"] == um
    assert env.pg.sql("SELECT count(*) FROM messages WHERE dialog_id = %s AND sender = 'user'", d)[0][0] == 1
    # the visitor's message asked the assistant for an answer
    assert env.pg.sql("SELECT up_to_seq FROM answer_jobs WHERE dialog_id = %s", d)[0][0] == 2

    # operator reply to a dialog in status ai: implicit takeover first, same transaction
    op = env.op()
    r = op.post(f"/api/dialogs/{d}/messages", json={"text": "On its way", "sender": "manager", "client_id": "m-1"})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["sender"] == "manager" and m["seq"] == 4 and m["operator"] == {"id": env.op_id, "name": "Otto"}
    rows = env.pg.sql("SELECT seq, sender, event, status, operator_id FROM messages WHERE dialog_id = %s ORDER BY seq", d)
    assert rows[2] == (3, "system", "operator_joined", "operator", env.op_id)
    x1 = env.pg.sql("SELECT xmin::text FROM messages WHERE dialog_id = %s AND seq IN (3, 4) ORDER BY seq", d)
    assert x1[0] == x1[1]  # one transaction
    dd = op.get(f"/api/dialogs/{d}").json()
    assert dd["status"] == "operator" and dd["assigned_to"] == {"id": env.op_id, "name": "Otto"}
    assert dd["unread"] == 0  # an operator reply reads the dialog
    r = op.post(f"/api/dialogs/{d}/messages", json={"text": "retry", "client_id": "m-1"})
    assert r.status_code == 200 and r.json() == m
    # another operator replies without reassigning, no second operator_joined
    r = env.admin().post(f"/api/dialogs/{d}/messages", json={"text": "me too"})
    assert r.status_code == 201 and r.json()["seq"] == 5
    assert env.pg.sql("SELECT count(*) FROM messages WHERE dialog_id = %s AND event = 'operator_joined'", d)[0][0] == 1

    # histories
    admin_hist = op.get(f"/api/dialogs/{d}/messages").json()
    assert [x["seq"] for x in admin_hist] == [1, 2, 3, 4, 5]
    vis_hist = w.get(f"/api/widget/dialogs/{d}/messages").json()
    assert [x["seq"] for x in vis_hist] == [1, 2, 3, 4, 5]       # own messages included
    site = w.get(f"/api/widget/dialogs/{d}/messages", params={"after": 0}).json()
    assert [x["seq"] for x in site] == [1, 3, 4, 5]               # site audience: no user messages
    assert [x["seq"] for x in op.get(f"/api/dialogs/{d}/messages", params={"after": 2, "limit": 2}).json()] == [3, 4]
    assert [x["seq"] for x in op.get(f"/api/dialogs/{d}/messages", params={"limit": 2}).json()] == [4, 5]
    assert op.get(f"/api/dialogs/{d}/messages", params={"after": 5}).json() == []
    # the guide's polling fallback, verbatim: no parameters, array of messages
    assert requests.get(env.url + f"/api/dialogs/{d}/messages",
                        headers={"Authorization": f"Bearer {env.op_token}"}).json() == admin_hist


def test_retries_after_release_and_close_return_the_first_message(env):
    """A retry of a stored client_id gets its first message back (200) and changes nothing:
    an operator's retry to a released dialog takes nothing over, and after the close both
    sides' retries still answer while a new message is 409 (chatai_lock_dialog)."""
    d, vt, _ = env.new_dialog()
    op, w = env.op(), env.widget(vt)
    r = w.post(f"/api/widget/dialogs/{d}/messages", json={"text": "hello", "client_id": "v-1"})
    assert r.status_code == 201, r.text
    um = r.json()["user_message"]
    r = op.post(f"/api/dialogs/{d}/messages", json={"text": "hi", "client_id": "o-1"})
    assert r.status_code == 201, r.text
    m = r.json()
    assert op.post(f"/api/dialogs/{d}/release").json()["status"] == "ai"
    joined = "SELECT count(*) FROM messages WHERE dialog_id = %s AND event = 'operator_joined'"
    assert env.pg.sql(joined, d) == [(1,)]
    r = op.post(f"/api/dialogs/{d}/messages", json={"text": "hi again", "client_id": "o-1"})
    assert r.status_code == 200 and r.json() == m
    assert env.pg.sql(joined, d) == [(1,)]
    assert env.pg.sql("SELECT status FROM dialogs WHERE id = %s", d) == [("ai",)]
    assert op.post(f"/api/dialogs/{d}/close").status_code == 200
    last = env.pg.sql("SELECT last_seq FROM dialogs WHERE id = %s", d)
    r = w.post(f"/api/widget/dialogs/{d}/messages", json={"text": "hello", "client_id": "v-1"})
    assert r.status_code == 200 and r.json()["user_message"] == um
    r = op.post(f"/api/dialogs/{d}/messages", json={"text": "hi", "client_id": "o-1"})
    assert r.status_code == 200 and r.json() == m
    assert error_of(w.post(f"/api/widget/dialogs/{d}/messages", json={"text": "x", "client_id": "v-2"})) == \
        (409, "conflict", None)
    assert error_of(op.post(f"/api/dialogs/{d}/messages", json={"text": "x", "client_id": "o-2"})) == \
        (409, "conflict", None)
    assert env.pg.sql("SELECT last_seq FROM dialogs WHERE id = %s", d) == last
    # the SQL functions themselves (REST may store visitor posts in batches)
    assert env.pg.sql("SELECT message, created FROM chatai_rest_visitor_post(%s, 'x', 'v-1')", d) == [(um, False)]
    for q, code in (("SELECT * FROM chatai_rest_visitor_post(%s, 'x', 'v-3')", "CA409"),
                    ("SELECT * FROM chatai_rest_visitor_post(%s * 1000, 'x', 'v-3')", "P0002"),
                    ("SELECT * FROM chatai_rest_operator_post(%s, 1, 'x', NULL)", "CA409"),
                    ("SELECT * FROM chatai_rest_operator_post(%s * 1000, 1, 'x', NULL)", "P0002")):
        with pytest.raises(psycopg2.Error) as e:
            env.pg.sql(q, d)
        assert e.value.pgcode == code, q


def test_sql_meta_characters_stored_verbatim(env):
    d, vt, _ = env.new_dialog()
    evil = "'; DROP TABLE messages; -- \" \\ %s $1 \x7f 😀"
    r = env.widget(vt).post(f"/api/widget/dialogs/{d}/messages", json={"text": evil, "client_id": "'; --"})
    assert r.status_code == 201
    assert r.json()["user_message"]["text"] == evil.strip()
    assert env.pg.sql("SELECT text, client_id FROM messages WHERE dialog_id = %s AND seq = 2", d)[0] == \
        (evil.strip(), "'; --")
    r = env.op().get("/api/dialogs", params={"status": "'; DROP TABLE dialogs; --"})
    assert error_of(r) == (400, "validation_failed", "status")
    assert env.pg.sql("SELECT count(*) FROM messages WHERE dialog_id = %s", d)[0][0] == 2


def test_status_actions_and_conflicts(env):
    d, vt, _ = env.new_dialog()
    op, adm, w = env.op(), env.admin(), env.widget(vt)
    assert error_of(op.post(f"/api/dialogs/{d}/release")) == (409, "conflict", None)
    r = w.post(f"/api/widget/dialogs/{d}/handoff")
    assert r.status_code == 200 and r.json()["status"] == "waiting"
    assert r.json()["last_message"]["event"] == "handoff_requested"
    assert w.post(f"/api/widget/dialogs/{d}/handoff").json()["status"] == "waiting"   # idempotent
    r = op.post(f"/api/dialogs/{d}/takeover")
    assert r.status_code == 200 and r.json()["status"] == "operator"
    assert r.json()["assigned_to"]["id"] == env.op_id
    n = env.pg.sql("SELECT last_seq FROM dialogs WHERE id = %s", d)[0][0]
    assert op.post(f"/api/dialogs/{d}/takeover").json()["last_seq"] == n            # already mine: no-op
    r = adm.post(f"/api/dialogs/{d}/takeover")                                      # someone else takes it
    assert r.json()["assigned_to"]["id"] == env.admin_id
    r = adm.post(f"/api/dialogs/{d}/release")
    assert r.status_code == 200 and r.json()["status"] == "ai" and r.json()["assigned_to"] is None
    assert r.json()["last_message"]["event"] == "operator_left"
    r = op.post(f"/api/dialogs/{d}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["last_message"]["event"] == "dialog_closed"
    events = [e for (e,) in env.pg.sql("SELECT event FROM messages WHERE dialog_id = %s AND sender = 'system' ORDER BY seq", d)]
    assert events == ["handoff_requested", "operator_joined", "operator_joined", "operator_left", "dialog_closed"]
    # closed is final
    for path in ("close", "takeover", "release"):
        assert error_of(op.post(f"/api/dialogs/{d}/{path}")) == (409, "conflict", None), path
    assert error_of(op.post(f"/api/dialogs/{d}/messages", json={"text": "x"})) == (409, "conflict", None)
    assert error_of(op.post(f"/api/dialogs/{d}/typing", json={"state": "start"})) == (409, "conflict", None)
    assert error_of(w.post(f"/api/widget/dialogs/{d}/messages", json={"text": "x"})) == (409, "conflict", None)
    assert error_of(w.post(f"/api/widget/dialogs/{d}/typing", json={"state": "start"})) == (409, "conflict", None)
    assert error_of(w.post(f"/api/widget/dialogs/{d}/handoff")) == (409, "conflict", None)
    assert w.get(f"/api/widget/dialogs/{d}/messages").status_code == 200
    for path in ("takeover", "release", "close"):
        assert error_of(op.post(f"/api/dialogs/999999999/{path}")) == (404, "not_found", None)


def test_typing_is_notified_not_stored(env):
    d, vt, _ = env.new_dialog()
    before = fingerprint(env.pg)
    lc = listen(env.pg)
    try:
        assert env.op().post(f"/api/dialogs/{d}/typing", json={"state": "start"}).status_code == 204
        assert env.widget(vt).post(f"/api/widget/dialogs/{d}/typing", json={"state": "stop"}).status_code == 204
        got = [p for p in notifications(lc, want=lambda p: p.get("who") == "user") if p.get("k") == "typing"]
    finally:
        lc.close()
    assert {"k": "typing", "dialog_id": d, "assistant_id": env.assistant, "who": "manager", "state": "start"} in got
    assert {"k": "typing", "dialog_id": d, "assistant_id": env.assistant, "who": "user", "state": "stop"} in got
    assert fingerprint(env.pg) == before
    assert error_of(env.op().post(f"/api/dialogs/{d}/typing", json={"state": "maybe"})) == \
        (400, "validation_failed", "state")
    assert error_of(env.op().post("/api/dialogs/999999999/typing", json={"state": "start"})) == \
        (404, "not_found", None)


def test_read_clears_unread(env):
    d, vt, _ = env.new_dialog()
    w = env.widget(vt)
    for i in range(3):
        w.post(f"/api/widget/dialogs/{d}/messages", json={"text": f"q{i}"})
    op = env.op()
    assert op.get(f"/api/dialogs/{d}").json()["unread"] == 3
    lc = listen(env.pg)
    try:
        assert op.post(f"/api/dialogs/{d}/read", json={"seq": 3}).status_code == 204
        got = notifications(lc, want=lambda p: p.get("k") == "dialog")
    finally:
        lc.close()
    assert {"k": "dialog", "dialog_id": d, "assistant_id": env.assistant, "kind": "dialog_updated"} in got
    assert op.get(f"/api/dialogs/{d}").json()["unread"] == 1
    op.post(f"/api/dialogs/{d}/read", json={"seq": 1})            # never backwards
    assert op.get(f"/api/dialogs/{d}").json()["unread"] == 1
    op.post(f"/api/dialogs/{d}/read", json={"seq": 10 ** 15})      # clamped to last_seq
    assert env.pg.sql("SELECT read_seq = last_seq FROM dialogs WHERE id = %s", d)[0][0] is True
    assert op.get(f"/api/dialogs/{d}").json()["unread"] == 0
    assert error_of(op.post(f"/api/dialogs/{d}/read", json={"seq": -1})) == (400, "validation_failed", "seq")
    assert error_of(op.post("/api/dialogs/999999999/read", json={"seq": 1})) == (404, "not_found", None)


def test_dialog_list_filters_and_paging(env):
    op = env.op()
    a = harness.make_assistant(env.pg, "Lister")
    made = [env.new_dialog(a)[0] for _ in range(5)]
    op.post(f"/api/dialogs/{made[1]}/close")
    lst = op.get("/api/dialogs", params={"assistant_id": a}).json()["dialogs"]
    assert [x["id"] for x in lst] == [made[1], made[4], made[3], made[2], made[0]]  # newest activity first
    assert all(x["assistant_id"] == a for x in lst)
    only = op.get("/api/dialogs", params={"assistant_id": a, "status": "closed"}).json()["dialogs"]
    assert [x["id"] for x in only] == [made[1]]
    both = op.get("/api/dialogs", params={"assistant_id": a, "status": "ai,closed"}).json()["dialogs"]
    assert len(both) == 5
    p1 = op.get("/api/dialogs", params={"assistant_id": a, "limit": 2}).json()["dialogs"]
    p2 = op.get("/api/dialogs", params={"assistant_id": a, "limit": 2, "before": p1[-1]["id"]}).json()["dialogs"]
    p3 = op.get("/api/dialogs", params={"assistant_id": a, "limit": 2, "before": p2[-1]["id"]}).json()["dialogs"]
    assert [x["id"] for x in p1 + p2 + p3] == [x["id"] for x in lst]
    for bad, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"status": "open"}, "status"),
                       ({"assistant_id": "x"}, "assistant_id"), ({"before": "-3"}, "before")):
        assert error_of(op.get("/api/dialogs", params=bad)) == (400, "validation_failed", field), bad
    assert error_of(op.get("/api/dialogs/999999999")) == (404, "not_found", None)


def test_inbox_cursor(env):
    op = env.op()
    r = op.get("/api/inbox")
    assert r.status_code == 200
    first = r.json()
    assert first["events"] == [] and isinstance(first["cursor"], str)
    d, vt, _ = env.new_dialog()
    env.widget(vt).post(f"/api/widget/dialogs/{d}/messages", json={"text": "inbox me"})
    r = op.get("/api/inbox", params={"cursor": first["cursor"]})
    j = r.json()
    mine = [e for e in j["events"] if e.get("dialog_id") == d or (e.get("dialog") or {}).get("id") == d]
    types = [e["type"] for e in mine]
    assert types[0] == "dialog_created"
    assert [e["seq"] for e in mine if e["type"] == "message"] == [1, 2]
    assert types.count("dialog_updated") == 1               # folded
    assert mine[-1]["type"] == "dialog_updated" and mine[-1]["dialog"]["last_seq"] == 2
    # nothing new: same position, no events
    again = op.get("/api/inbox", params={"cursor": j["cursor"]}).json()
    assert again["events"] == []
    for bad in ("garbage", "djI6NzQx", "%00"):
        assert error_of(op.get("/api/inbox", params={"cursor": bad})) == (400, "validation_failed", "cursor")


def test_inbox_pages_never_skip(env):
    op = env.op()
    cur = op.get("/api/inbox").json()["cursor"]
    d, vt, _ = env.new_dialog(env.silent)
    w = env.widget(vt)
    # 260 messages -> 520 events + dialog_created: more than one page of 500
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: w.post(f"/api/widget/dialogs/{d}/messages", json={"text": f"m{i}"}), range(260)))
    seqs, pages = [], 0
    while True:
        j = op.get("/api/inbox", params={"cursor": cur}).json()
        pages += 1
        cur = j["cursor"]
        seqs += [e["seq"] for e in j["events"] if e["type"] == "message" and e["dialog_id"] == d]
        if not j["events"]:
            break
    assert pages >= 3
    assert sorted(seqs) == list(range(1, 261)) and len(seqs) == 260


# ---- routing, CORS

def test_not_found_and_method_not_allowed(env):
    op = env.op()
    for path in ("/api/nothing", "/api/dialogs/abc", "/api/dialogs/0", "/api/dialogs/-5",
                 "/api/dialogs/99999999999999999999999", "/api/dialogs/1/nothing"):
        assert error_of(op.get(path)) == (404, "not_found", None), path
    r = op.delete("/api/dialogs/1/messages")
    assert error_of(r) == (405, "method_not_allowed", None)
    assert r.headers["Allow"] == "GET, POST"
    r = op.put("/api/auth/login", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_cors(env):
    d, vt, _ = env.new_dialog(env.guarded)
    s = requests.Session()
    u = f"{env.url}/api/widget/dialogs/{d}/messages"
    ok = s.get(u, headers={"X-Visitor-Token": vt, "Origin": "https://shop.example"})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in ok.headers.get("Vary", "")
    sub = s.get(u, headers={"X-Visitor-Token": vt, "Origin": "https://a.brand.example"})
    assert sub.status_code == 200 and sub.headers["Access-Control-Allow-Origin"] == "https://a.brand.example"
    bad = s.get(u, headers={"X-Visitor-Token": vt, "Origin": "https://evil.example"})
    assert error_of(bad) == (403, "forbidden", None)
    assert "Access-Control-Allow-Origin" not in bad.headers
    # preflight
    pf = s.options(u, headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "content-type,x-visitor-token"})
    assert pf.status_code == 204
    assert pf.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in pf.headers["Access-Control-Allow-Methods"]
    assert "X-Visitor-Token" in pf.headers["Access-Control-Allow-Headers"]
    pf = s.options(u, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert pf.status_code == 403 and "Access-Control-Allow-Origin" not in pf.headers
    pf = s.options(f"{env.url}/api/widget/dialogs", headers={"Origin": "https://any.example",
                                                            "Access-Control-Request-Method": "POST"})
    assert pf.status_code == 204
    # dialog creation with a refused origin stores nothing
    before = fingerprint(env.pg)
    r = s.post(f"{env.url}/api/widget/dialogs", json={"assistant_id": env.guarded},
               headers={"Origin": "https://evil.example"})
    assert error_of(r) == (403, "forbidden", None)
    assert fingerprint(env.pg) == before
    r = s.post(f"{env.url}/api/widget/dialogs", json={"assistant_id": env.guarded},
               headers={"Origin": "https://shop.example"})
    assert r.status_code == 201 and r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    a = s.get(f"{env.url}/api/widget/assistants/{env.guarded}", headers={"Origin": "https://evil.example"})
    assert error_of(a) == (403, "forbidden", None)
    # an assistant with no list allows any origin
    a = s.get(f"{env.url}/api/widget/assistants/{env.assistant}", headers={"Origin": "https://evil.example"})
    assert a.status_code == 200 and a.headers["Access-Control-Allow-Origin"] == "https://evil.example"


def test_visitor_token_rules(env):
    d1, vt1, _ = env.new_dialog()
    d2, vt2, _ = env.new_dialog()
    s = requests.Session()
    u = f"{env.url}/api/widget/dialogs/{d1}/messages"
    assert s.get(u, params={"visitor_token": vt1}).status_code == 200          # query form
    assert error_of(s.get(u)) == (401, "unauthorized", None)
    assert error_of(s.get(u, headers={"X-Visitor-Token": "short"})) == (401, "unauthorized", None)
    assert error_of(s.get(u, headers={"X-Visitor-Token": vt2})) == (403, "forbidden", None)
    assert error_of(s.post(u, json={"text": "x"}, headers={"X-Visitor-Token": vt2})) == (403, "forbidden", None)
    assert error_of(s.get(f"{env.url}/api/widget/dialogs/999999999/messages",
                          headers={"X-Visitor-Token": vt1})) == (404, "not_found", None)
    # an operator token is not a visitor token
    assert error_of(s.get(u, headers={"X-Visitor-Token": env.op_token})) == (403, "forbidden", None)


def test_rate_limits(tmp_path):
    # its own database: the counters are per client address, and every test comes from 127.0.0.1
    st = harness.Stack(tmp_path / "limits", notifier=False,
                       env={"CHATAI_RATE_LIMIT_DIALOGS": 3, "CHATAI_RATE_LIMIT_MESSAGES": 4,
                            "CHATAI_RATE_LIMIT_TYPING": 0, "CHATAI_RATE_LIMIT_LOGIN": 2})
    try:
        _rate_limits(st)
    finally:
        st.stop()


def _rate_limits(st):
    aid = harness.make_assistant(st.pg, "Limited")
    s = requests.Session()
    codes = [s.post(st.url + "/api/widget/dialogs", json={"assistant_id": aid}).status_code for _ in range(4)]
    # 3 per window; a window boundary passing mid-test allows a few more
    assert codes[-1] == 429 and 3 <= codes.count(201) <= 6 and set(codes) == {201, 429}, codes
    r = s.post(st.url + "/api/widget/dialogs", json={"assistant_id": aid})
    assert error_of(r) == (429, "rate_limited", None)
    ra = int(r.headers["Retry-After"])
    assert 1 <= ra <= 60
    d = st.pg.sql("SELECT id FROM dialogs WHERE assistant_id = %s ORDER BY id DESC LIMIT 1", aid)[0][0]
    # a dialog made by SQL to test message limits with a known token
    import hashlib
    tok = "T" * 43
    st.pg.sql("UPDATE dialogs SET visitor_token_hash = %s WHERE id = %s", hashlib.sha256(tok.encode()).hexdigest(), d)
    h = {"X-Visitor-Token": tok}
    codes = [s.post(st.url + f"/api/widget/dialogs/{d}/messages", json={"text": f"m{i}"}, headers=h).status_code
             for i in range(6)]
    assert 1 <= codes.count(201) <= 4 and codes[-1] == 429, codes
    # typing is unlimited here (0 turns a limit off)
    assert all(s.post(st.url + f"/api/widget/dialogs/{d}/typing", json={"state": "start"}, headers=h).status_code
               == 204 for _ in range(10))
    codes = [s.post(st.url + "/api/auth/login", json={"email": "x@y.z", "password": "p"}).status_code
             for _ in range(3)]
    assert codes[-1] == 429, codes


def test_plain_cgi_mode(env):
    """The same binary answers one request as CGI when stdin is not a FastCGI socket."""
    body = json.dumps({"assistant_id": env.assistant}).encode()
    e = harness.base_env({"CHATAI_DATABASE_URL": env.pg.url, "CHATAI_LOG_LEVEL": "warn",
                          "CHATAI_RATE_LIMIT_DIALOGS": 0,
                          "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST",
                          "REQUEST_URI": "/api/widget/dialogs", "CONTENT_TYPE": "application/json",
                          "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "192.0.2.7",
                          "HTTP_USER_AGENT": "cgi-test"})
    cp = subprocess.run([str(harness.binary("chatai.fcgi"))], input=body, env=e, capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    head, _, payload = cp.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"Status: 201 Created"), cp.stdout
    j = json.loads(payload)
    assert j["messages"][0]["text"] == "Hello! How can I help?"
    # a long-poll in CGI mode is answered at once (a waiting request would hold a
    # process): the client is told to poll briefly (tests/integration/test_shared_host.py)
    e.update({"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "0",
              "REQUEST_URI": f"/api/widget/dialogs/{j['dialog_id']}/messages?after=1&wait=1",
              "HTTP_X_VISITOR_TOKEN": j["visitor_token"]})
    t = time.monotonic()
    cp = subprocess.run([str(harness.binary("chatai.fcgi"))], input=b"", env=e, capture_output=True, timeout=30)
    took = time.monotonic() - t
    assert cp.stdout.startswith(b"Status: 200 OK") and cp.stdout.endswith(b"\r\n\r\n[]"), cp.stdout
    assert b"X-Chatai-Poll: short; active=1000; idle=10000\r\n" in cp.stdout
    assert took < 0.9, took
    # with fcgi_poll_mode = long, it waits and ends with []
    e["CHATAI_FCGI_POLL_MODE"] = "long"
    t = time.monotonic()
    cp = subprocess.run([str(harness.binary("chatai.fcgi"))], input=b"", env=e, capture_output=True, timeout=30)
    took = time.monotonic() - t
    assert cp.stdout.startswith(b"Status: 200 OK") and cp.stdout.endswith(b"\r\n\r\n[]"), cp.stdout
    assert 0.9 < took < 5, took
