# SPDX-License-Identifier: MIT
"""chatai-ai end to end: visitors and operators use the REST API through lighttpd and
chatai.fcgi, and listen with real WebSocket clients to the notifier; the worker is a real
process. The AI tests have their own stack (own PostgreSQL) so that the worker answers
no other suite's dialogs."""

import time

import pytest

import harness
from ai_fixtures import (A_HOURS, A_PASSWORD, A_RETURN, A_SHIPPING, KB, add_kb, ai_messages, dialog_row,
                         jobs, messages, wait_ai)
from notifier_fixtures import WsClient


@pytest.fixture(scope="module")
def aistack(tmp_path_factory):
    s = harness.Stack(tmp_path_factory.mktemp("aistack"), notifier=True, ai=False)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def world(aistack):
    pg = aistack.pg
    email, pw = "ann@ai.example", "ann-password-1"
    op = harness.make_operator(pg, email, pw, "Ann", "operator")
    api = harness.Api(aistack.url)
    token = api.login(email, pw)
    a = harness.make_assistant(pg, "REST assistant", greeting="Hi! Ask me anything.")
    add_kb(pg, a, KB)
    worker = harness.AiWorker(pg, env={"CHATAI_AI_SWEEP_INTERVAL": "1"}).start()
    yield {"pg": pg, "api": api, "token": token, "op": op, "assistant": a, "worker": worker}
    worker.stop()


def collect(ws, until, timeout=10.0):
    """Events of ws until until(events) holds."""
    out = []
    deadline = time.monotonic() + timeout
    while not until(out):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {out}")
        out.append(ws.recv(left))
    return out


def shape(ev):
    if ev["type"] == "message":
        return f"message:{ev['sender']}"
    return f"{ev['type']}:{ev.get('who')}"


def test_answer_reaches_both_channels_between_typing_events(world):
    api, pg, a = world["api"], world["pg"], world["assistant"]
    did, vt, created = api.create_dialog(a, page_url="https://shop.example/help")
    # The greeting is the dialog's first message (stored by chatai.fcgi).
    assert [(m["sender"], m["text"], m["seq"]) for m in created["messages"]] == [("ai", "Hi! Ask me anything.", 1)]
    site = WsClient(api.ws_widget_url(did, a, vt, since=1))
    admin = WsClient(api.ws_dialog_url(did, world["token"], since=1))
    time.sleep(0.3)
    try:
        r = api.visitor_post(did, vt, "How do I reset my password?", client_id="c-1")
        assert r.status_code == 201, r.text
        s_ev = collect(site, lambda ev: any(e["type"] == "typing_stop" for e in ev))
        assert [shape(e) for e in s_ev] == ["typing_start:ai", "message:ai", "typing_stop:ai"]
        ans = s_ev[1]
        assert ans["text"] == A_PASSWORD and ans["seq"] == 3 and ans["dialog_id"] == did
        a_ev = collect(admin, lambda ev: any(e.get("sender") == "ai" for e in ev))
        assert [shape(e) for e in a_ev] == ["message:user", "message:ai"]
        assert a_ev[1] == ans  # the same JSON on both channels
        # Typing of the assistant is not on the admin channel (API.md, Routing).
        admin.expect_silence(0.5)
    finally:
        site.sock.close()
        admin.sock.close()
    # The visitor's history over REST has the answer too.
    hist = api.visitor_messages(did, vt).json()
    assert [m["sender"] for m in hist] == ["ai", "user", "ai"]


def test_handoff_button_then_release(world):
    api, pg, a, token = world["api"], world["pg"], world["assistant"], world["token"]
    did, vt, _ = api.create_dialog(a)
    r = api.s.post(f"/api/widget/dialogs/{did}/handoff", headers={"X-Visitor-Token": vt})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "waiting"
    # Waiting: the assistant stays silent.
    assert api.visitor_post(did, vt, "How much does shipping cost?").status_code == 201
    time.sleep(1.0)
    assert [m["text"] for m in ai_messages(pg, did)] == ["Hi! Ask me anything."]
    op = api.op(token)
    assert op.post(f"/api/dialogs/{did}/takeover").json()["status"] == "operator"
    assert api.visitor_post(did, vt, "Can I return an item?").status_code == 201
    time.sleep(0.5)
    assert len(ai_messages(pg, did)) == 1
    assert op.post(f"/api/dialogs/{did}/release").json()["status"] == "ai"
    assert api.visitor_post(did, vt, "Can I return an item?").status_code == 201
    assert [m["text"] for m in wait_ai(pg, did, 2)][1] == A_RETURN


def test_handoff_words_over_rest(world):
    api, pg, a, token = world["api"], world["pg"], world["assistant"], world["token"]
    did, vt, _ = api.create_dialog(a)
    admin = WsClient(api.ws_dialog_url(did, token, since=1))
    time.sleep(0.3)
    try:
        assert api.visitor_post(did, vt, "Can I talk to a human, please?").status_code == 201
        evs = collect(admin, lambda ev: any(e.get("event") == "handoff_requested" for e in ev))
        assert [shape(e) for e in evs] == ["message:user", "message:system"]
        assert evs[1]["status"] == "waiting"
    finally:
        admin.sock.close()
    d = api.op(token).get(f"/api/dialogs/{did}").json()
    assert d["status"] == "waiting"
    # Ann is logged in, so an operator is online: no offline notice.
    time.sleep(0.3)
    assert [m["event"] for m in messages(pg, did) if m["sender"] == "system"] == ["handoff_requested"]


def test_operator_reply_silences_the_assistant(world):
    api, pg, a, token = world["api"], world["pg"], world["assistant"], world["token"]
    did, vt, _ = api.create_dialog(a)
    r = api.operator_post(token, did, "Hello, Ann here. How can I help?")
    assert r.status_code == 201, r.text
    assert dialog_row(pg, did)["status"] == "operator"
    assert api.visitor_post(did, vt, "What are your opening hours?").status_code == 201
    time.sleep(1.0)
    assert [m["sender"] for m in messages(pg, did)] == ["ai", "system", "manager", "user"]
    assert jobs(pg, did) == []


def test_questions_in_a_row_over_rest(world):
    api, pg, a = world["api"], world["pg"], world["assistant"]
    did, vt, _ = api.create_dialog(a)
    for q in ["What are your opening hours?", "How much does shipping cost?"]:
        r = api.visitor_post(did, vt, q)
        assert r.status_code == 201
    last = r.json()["user_message"]["seq"]

    def answered():
        js = jobs(pg, did)
        return js and all(j["state"] == "done" for j in js) and js[-1]["up_to_seq"] == last

    harness.wait_until(answered, message=f"both questions answered: {jobs(pg, did)} {messages(pg, did)}")
    texts = [m["text"] for m in ai_messages(pg, did)][1:]
    # One answer for both (the worker saw both) or two: either way in the order asked.
    assert "\n\n".join(texts) == f"{A_HOURS}\n\n{A_SHIPPING}"


def test_handoff_button_in_offline_hours(world):
    api, pg, a = world["api"], world["pg"], world["assistant"]
    did, vt, _ = api.create_dialog(a)
    pg.sql("UPDATE operators SET last_seen_at = now() - interval '1 hour'")
    try:
        site = WsClient(api.ws_widget_url(did, a, vt, since=1))
        time.sleep(0.3)
        r = api.s.post(f"/api/widget/dialogs/{did}/handoff", headers={"X-Visitor-Token": vt})
        assert r.status_code == 200 and r.json()["status"] == "waiting"
        evs = collect(site, lambda ev: len(ev) >= 2)
        assert [(e["sender"], e["event"], e["status"]) for e in evs] == [
            ("system", "handoff_requested", "waiting"), ("system", "offline_notice", "waiting")]
        assert evs[1]["text"] == pg.sql("SELECT offline_message FROM assistants WHERE id = %s", a)[0][0]
        assert [e["seq"] for e in evs] == [2, 3]
        site.sock.close()
        # Pressed again while waiting: nothing more.
        assert api.s.post(f"/api/widget/dialogs/{did}/handoff", headers={"X-Visitor-Token": vt}).status_code == 200
        assert len(messages(pg, did)) == 3
    finally:
        pg.sql("UPDATE operators SET last_seen_at = now()")
