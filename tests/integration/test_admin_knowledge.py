# SPDX-License-Identifier: MIT
"""Assistants and knowledge over REST (issue 14): PATCH /api/assistants/{id} (all fields),
PATCH /api/knowledge/{id}, GET /api/assistants/{id}/knowledge?q=, POST .../answer-preview,
GET /api/dialogs/{id}/suggestions. The preview must be what the assistant really says:
checked against the answer the AI worker's code stores in a dialog, with the knowledge
base and with an LLM (tests/integration/fake_llm.py: answering, and failing)."""

import time
import uuid

import pytest

import harness
pytest_plugins = ["rest_fixtures"]
from rest_fixtures import error_of
from admin_helpers import expect_auth, expect_bad_bodies
from fake_llm import FakeLLM

ASSISTANT_KEYS = {"id", "name", "greeting", "allowed_origins", "handoff_words", "waiting_timeout", "ts_config",
                  "created_at", "updated_at"}


@pytest.fixture
def bot(env):
    """A fresh assistant with three entries: (id, {question: entry})."""
    r = env.admin().post("/api/assistants", json={"name": f"KB bot {uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    entries = {}
    for q, a in (("What are your opening hours?", "We are open 9 to 5, Monday to Friday."),
                 ("How do I reset my password?", "Use the 'forgot password' link on the login page."),
                 ("Do you ship abroad?", "Yes, we ship to every country in the EU.")):
        r = env.admin().post(f"/api/assistants/{aid}/knowledge", json={"question": q, "answer": a})
        assert r.status_code == 201, r.text
        entries[q] = r.json()
    return aid, entries


def test_assistant_patch_all_fields(env, bot):
    aid, _ = bot
    body = {"name": "Renamed bot", "greeting": "Hello there", "allowed_origins": ["https://A.example"],
            "handoff_words": ["human", " agent "], "waiting_timeout": 120, "ts_config": "simple"}
    r = env.admin().patch(f"/api/assistants/{aid}", json=body)
    assert r.status_code == 200, r.text
    a = r.json()
    assert set(a) == ASSISTANT_KEYS
    assert a["name"] == "Renamed bot" and a["greeting"] == "Hello there"
    assert a["allowed_origins"] == ["https://a.example"] and a["handoff_words"] == ["human", "agent"]
    assert a["waiting_timeout"] == 120 and a["ts_config"] == "simple"
    assert env.op().get(f"/api/assistants/{aid}").json() == a
    # the knowledge follows the new search configuration
    assert env.pg.sql("SELECT DISTINCT ts_config::text FROM knowledge WHERE assistant_id = %s", aid) == [("simple",)]
    r = env.admin().patch(f"/api/assistants/{aid}", json={"waiting_timeout": None, "ts_config": "english"})
    assert r.status_code == 200 and r.json()["waiting_timeout"] is None and r.json()["ts_config"] == "english"
    assert r.json()["name"] == "Renamed bot"


@pytest.mark.parametrize("body,field", [
    ({}, None),
    ({"handoff_words": "human"}, "handoff_words"),
    ({"handoff_words": ["ok", 5]}, "handoff_words"),
    ({"handoff_words": [""]}, "handoff_words"),
    ({"handoff_words": ["w"] * 51}, "handoff_words"),
    ({"waiting_timeout": 0}, "waiting_timeout"),
    ({"waiting_timeout": "60"}, "waiting_timeout"),
    ({"waiting_timeout": 1.5}, "waiting_timeout"),
    ({"waiting_timeout": 10 ** 9}, "waiting_timeout"),
    ({"ts_config": "klingon"}, "ts_config"),
    ({"ts_config": "english'; DROP TABLE knowledge;--"}, "ts_config"),
    ({"ts_config": 3}, "ts_config"),
    ({"allowed_origins": ["shop.example"]}, "allowed_origins"),
    ({"allowed_origins": "https://a.example"}, "allowed_origins"),
    ({"name": ""}, "name"),
    ({"name": 12}, "name"),
    ({"greeting": "g" * 5000}, "greeting"),
])
def test_assistant_patch_validation(env, bot, body, field):
    aid, _ = bot
    before = env.op().get(f"/api/assistants/{aid}").json()
    r = env.admin().patch(f"/api/assistants/{aid}", json=body)
    assert error_of(r) == (400, "validation_failed", field), r.text
    assert env.op().get(f"/api/assistants/{aid}").json() == before


def test_assistant_patch_refusals(env, bot):
    aid, _ = bot
    expect_auth(env, "PATCH", f"/api/assistants/{aid}", True, {"name": "x"})
    expect_bad_bodies(env.admin(), "PATCH", f"/api/assistants/{aid}")
    assert error_of(env.admin().patch("/api/assistants/999999999", json={"handoff_words": ["x"]}))[:2] == \
        (404, "not_found")


def test_origins_patch_reaches_widget_at_once(env, bot):
    aid, _ = bot
    assert env.admin().patch(f"/api/assistants/{aid}", json={"allowed_origins": ["https://one.example"]}).status_code == 200
    did, vt, _ = env.new_dialog(aid, headers={"Origin": "https://one.example"})
    assert env.widget(vt, "https://one.example").get(f"/api/widget/dialogs/{did}/messages").status_code == 200
    assert env.admin().patch(f"/api/assistants/{aid}", json={"allowed_origins": ["https://two.example"]}).status_code == 200
    deadline = time.monotonic() + 5
    while env.widget(vt, "https://one.example").get(f"/api/widget/dialogs/{did}/messages").status_code != 403:
        assert time.monotonic() < deadline, "the old origin is still allowed"
        time.sleep(0.05)


def test_knowledge_patch(env, bot):
    aid, entries = bot
    k = entries["Do you ship abroad?"]
    r = env.admin().patch(f"/api/knowledge/{k['id']}", json={"answer": "  Only within the EU.  "})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j == dict(k, answer="Only within the EU.")
    r = env.admin().patch(f"/api/knowledge/{k['id']}", json={"question": "Do you deliver abroad?"})
    assert r.json()["question"] == "Do you deliver abroad?" and r.json()["answer"] == "Only within the EU."
    assert error_of(env.admin().patch(f"/api/knowledge/{k['id']}", json={})) == (400, "validation_failed", None)
    assert error_of(env.admin().patch(f"/api/knowledge/{k['id']}", json={"answer": ""})) == \
        (400, "validation_failed", "answer")
    assert error_of(env.admin().patch(f"/api/knowledge/{k['id']}", json={"question": ["q"]})) == \
        (400, "validation_failed", "question")
    assert error_of(env.admin().patch(f"/api/knowledge/{k['id']}", json={"answer": "a" * 4001})) == \
        (400, "validation_failed", "answer")
    assert error_of(env.admin().patch("/api/knowledge/999999999", json={"answer": "x"}))[:2] == (404, "not_found")
    expect_auth(env, "PATCH", f"/api/knowledge/{k['id']}", True, {"answer": "x"})
    expect_bad_bodies(env.admin(), "PATCH", f"/api/knowledge/{k['id']}")
    # the search follows the edit
    hits = env.op().get(f"/api/assistants/{aid}/knowledge", params={"q": "deliver"}).json()["knowledge"]
    assert [h["id"] for h in hits] == [k["id"]]


def test_knowledge_ranked_search(env, bot):
    aid, entries = bot
    op = env.op()
    r = op.get(f"/api/assistants/{aid}/knowledge", params={"q": "reset password"})
    assert r.status_code == 200, r.text
    hits = r.json()["knowledge"]
    assert hits and hits[0]["id"] == entries["How do I reset my password?"]["id"]
    assert set(hits[0]) == {"id", "assistant_id", "question", "answer", "score"}
    assert all(isinstance(h["score"], float) for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # the same order as the assistant's own search function
    rows = env.pg.sql("SELECT id FROM chatai_kb_search(%s, %s, 50)", aid, "reset password")
    assert [h["id"] for h in hits] == [x[0] for x in rows]
    assert op.get(f"/api/assistants/{aid}/knowledge", params={"q": "zebra quantum"}).json() == {"knowledge": []}
    # no q, or an empty one: every entry
    assert len(op.get(f"/api/assistants/{aid}/knowledge", params={"q": ""}).json()["knowledge"]) == 3
    # SQL and tsquery meta-characters are only text
    for q in ("'; DROP TABLE knowledge;--", "a & | ! ( ) : * \\", "\"unbalanced"):
        assert op.get(f"/api/assistants/{aid}/knowledge", params={"q": q}).status_code == 200
    # invalid UTF-8 and bad escapes: 400 (lighttpd may refuse such a URL before chatai.fcgi does)
    for qs in ("q=%ff%fe", "q=%00"):
        r = op.get(f"/api/assistants/{aid}/knowledge?{qs}")
        assert r.status_code == 400, (qs, r.text)
        if r.headers.get("Content-Type", "").startswith("application/json"):
            assert error_of(r) == (400, "validation_failed", "q")
    assert error_of(op.get(f"/api/assistants/{aid}/knowledge", params={"q": "x" * 1001})) == \
        (400, "validation_failed", "q")
    assert error_of(op.get("/api/assistants/999999999/knowledge", params={"q": "x"}))[:2] == (404, "not_found")
    expect_auth(env, "GET", f"/api/assistants/{aid}/knowledge?q=x", False)


def test_preview_is_what_the_assistant_says(env, bot, private_stack):
    """The preview equals the answer the AI worker (chatai-ai, the same library) stores."""
    aid, _ = bot
    st = private_stack(ai=True)
    api = harness.Api(st.url)
    tok = api.login(env.op_email, env.op_password)
    for q in ("When are you open? opening hours", "reset my password please", "zebra quantum flux"):
        pv = api.op(tok).post(f"/api/assistants/{aid}/answer-preview", json={"question": q})
        assert pv.status_code == 200, pv.text
        did, vt, _ = api.create_dialog(aid)
        assert api.visitor_post(did, vt, q).status_code == 201
        deadline = time.monotonic() + 30
        rows = []
        while not rows and time.monotonic() < deadline:
            rows = env.pg.sql("SELECT text FROM messages WHERE dialog_id = %s AND sender = 'ai'", did)
            time.sleep(0.2)
        assert rows, "the assistant did not answer"
        assert pv.json()["answer"] == rows[0][0], q


def test_answer_preview(env, bot):
    aid, entries = bot
    op = env.op()
    k = entries["What are your opening hours?"]
    r = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": "When are you open? opening hours"})
    assert r.status_code == 200, r.text
    assert r.json() == {"answer": k["answer"], "knowledge_id": k["id"]}
    fb = env.pg.sql("SELECT fallback_message FROM assistants WHERE id = %s", aid)[0][0]
    r = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": "zebra quantum flux"})
    assert r.json() == {"answer": fb, "knowledge_id": None}
    r = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": "let me talk to a human"})
    assert r.json()["knowledge_id"] is None and "human" in r.json()["answer"]
    for bad, field in (({}, "question"), ({"question": ""}, "question"), ({"question": 5}, "question"),
                       ({"question": "q" * 4001}, "question")):
        assert error_of(op.post(f"/api/assistants/{aid}/answer-preview", json=bad)) == \
            (400, "validation_failed", field)
    assert error_of(op.post("/api/assistants/999999999/answer-preview", json={"question": "x"}))[:2] == \
        (404, "not_found")
    expect_auth(env, "POST", f"/api/assistants/{aid}/answer-preview", False, {"question": "x"})
    expect_bad_bodies(op, "POST", f"/api/assistants/{aid}/answer-preview")


def test_suggestions(env, bot):
    aid, entries = bot
    did, vt, _ = env.new_dialog(aid)
    op = env.op()
    assert op.get(f"/api/dialogs/{did}/suggestions").json() == {"suggestions": []}
    assert env.api.visitor_post(did, vt, "hello").status_code == 201
    assert env.api.visitor_post(did, vt, "how can I reset my password").status_code == 201
    r = op.get(f"/api/dialogs/{did}/suggestions")
    assert r.status_code == 200, r.text
    s = r.json()["suggestions"]
    assert s and set(s[0]) == {"knowledge_id", "question", "answer", "score"}
    assert s[0]["knowledge_id"] == entries["How do I reset my password?"]["id"]
    rows = env.pg.sql("SELECT id FROM chatai_kb_search(%s, %s, 5)", aid, "how can I reset my password")
    assert [x["knowledge_id"] for x in s] == [x[0] for x in rows]
    assert error_of(op.get("/api/dialogs/999999999/suggestions"))[:2] == (404, "not_found")
    expect_auth(env, "GET", f"/api/dialogs/{did}/suggestions", False)


def worker_answer(st, env, aid, q):
    """The answer the stack's AI worker stores to q in a new dialog of aid."""
    api = harness.Api(st.url)
    did, vt, _ = api.create_dialog(aid)
    r = api.visitor_post(did, vt, q)
    assert r.status_code == 201, r.text
    seq = r.json()["user_message"]["seq"]
    rows = harness.wait_until(
        lambda: env.pg.sql("SELECT text FROM messages WHERE dialog_id = %s AND sender = 'ai' AND seq > %s",
                           did, seq), timeout=30, message="the assistant's answer")
    return rows[0][0]


@pytest.fixture
def llm():
    f = FakeLLM().start()
    yield f
    f.stop()


def asked(llm, q):
    """The bodies of the LLM requests whose last turn is the visitor's q."""
    with llm.lock:
        return [r["body"] for r in llm.requests if r["body"] and r["body"]["messages"][-1]["content"] == q]


def llm_env(llm, timeout=2):
    return {"CHATAI_AI_PROVIDER": "openai", "CHATAI_AI_BASE_URL": llm.base_url, "CHATAI_AI_MODEL": "preview-model",
            "CHATAI_AI_API_KEY": "sk-preview-test", "CHATAI_AI_TIMEOUT": str(timeout), "CHATAI_AI_LEASE": "30"}


def test_preview_with_the_llm_is_what_the_worker_says(env, bot, private_stack, llm):
    """ai_provider = openai: the preview asks the LLM exactly as the worker does (same
    request: system prompt with the best entries, the greeting, the question) and gives
    its answer."""
    aid, _ = bot
    assert env.admin().patch(f"/api/assistants/{aid}", json={"greeting": "Hi, I am the bot."}).status_code == 200
    st = private_stack(ai=True, env=llm_env(llm))
    api = harness.Api(st.url)
    op = api.op(api.login(env.op_email, env.op_password))
    for q in ("What are your opening hours?", "zebra quantum flux"):
        pv = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": q})
        assert pv.status_code == 200, pv.text
        assert pv.json() == {"answer": f"LLM answer: {q}", "knowledge_id": None}
        (preview_req,) = asked(llm, q)
        stored = worker_answer(st, env, aid, q)
        assert pv.json()["answer"] == stored
        assert asked(llm, q) == [preview_req, preview_req]  # the worker sent the same request
        assert [m["role"] for m in preview_req["messages"]] == ["system", "assistant", "user"]
        assert preview_req["messages"][1]["content"] == "Hi, I am the bot."
        # the best entry is the model's context (the same search as the worker's)
        assert ("We are open 9 to 5" in preview_req["messages"][0]["content"]) == (q != "zebra quantum flux")
    # the LLM's own answer text goes through the worker's cut and trim
    llm.reply = "  padded answer\n "
    pv = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": "anything at all"})
    assert pv.json()["answer"] == "padded answer" == worker_answer(st, env, aid, "anything at all")
    # the handoff words come first: no LLM call
    pv = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": "let me talk to a human"})
    assert pv.json()["knowledge_id"] is None and "human" in pv.json()["answer"]
    assert asked(llm, "let me talk to a human") == []


@pytest.mark.parametrize("mode", ["error500", "malformed", "slow"])
def test_preview_when_the_llm_fails_is_the_workers_fallback(env, bot, private_stack, llm, mode):
    """The LLM failing (an error, a bad answer, past ai_timeout): the preview falls back as
    the worker does: the knowledge base, else the fallback message."""
    aid, entries = bot
    llm.mode, llm.delay = mode, 4
    st = private_stack(ai=True, env=llm_env(llm, timeout=1))
    api = harness.Api(st.url)
    op = api.op(api.login(env.op_email, env.op_password))
    k = entries["What are your opening hours?"]
    fb = env.pg.sql("SELECT fallback_message FROM assistants WHERE id = %s", aid)[0][0]
    for q, want in (("When are you open? opening hours", {"answer": k["answer"], "knowledge_id": k["id"]}),
                    ("zebra quantum flux", {"answer": fb, "knowledge_id": None})):
        t0 = time.monotonic()
        pv = op.post(f"/api/assistants/{aid}/answer-preview", json={"question": q})
        took = time.monotonic() - t0
        assert pv.status_code == 200, pv.text
        assert pv.json() == want
        if mode == "slow":
            assert 0.9 < took < 3.5, f"ai_timeout 1 s, the LLM answers after 4 s; the preview took {took:.1f} s"
        assert worker_answer(st, env, aid, q) == want["answer"]
    assert "LLM call failed" in st.web.log() and "sk-preview-test" not in st.web.log()
