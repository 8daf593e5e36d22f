# SPDX-License-Identifier: MIT
"""chatai-ai with ai_provider = openai against tests/integration/fake_llm.py: the request
it sends, the answer it stores, and the fallback to the knowledge base on HTTP errors,
malformed JSON, empty content and timeouts."""

import time

import pytest

import harness
from ai_fixtures import (A_HOURS, A_PASSWORD, KB, UNKNOWN, Listener, add_kb, ai_messages, aipg,  # noqa: F401
                         dialog_row, jobs, new_assistant, new_dialog, post, typing, wait_ai, workers)
from fake_llm import FakeLLM

KEY = "sk-test-SECRET-never-logged-42"


@pytest.fixture
def llm():
    f = FakeLLM().start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def shop(aipg):
    a = new_assistant(aipg, "Llama shop")
    add_kb(aipg, a, KB)
    return a


def llm_env(llm, timeout=2, **extra):
    e = {"CHATAI_AI_PROVIDER": "openai", "CHATAI_AI_BASE_URL": llm.base_url,
         "CHATAI_AI_MODEL": "test-model", "CHATAI_AI_API_KEY": KEY, "CHATAI_AI_TIMEOUT": str(timeout),
         "CHATAI_AI_LEASE": "30"}
    e.update(extra)
    return e


def test_llm_answer_with_context(aipg, shop, workers, llm):
    w = workers(env=llm_env(llm))
    lis = Listener(aipg)
    try:
        d = new_dialog(aipg, shop)
        post(aipg, d, "Hi! I am the greeting", sender="ai")
        post(aipg, d, "Olga left", sender="system", event="operator_left", status="ai")
        post(aipg, d, "How do I reset my password?")
        assert wait_ai(aipg, d, 2)[1]["text"] == "LLM answer: How do I reset my password?"
        lis.wait_for(typing(d, "stop"), message="typing_stop")
        assert dialog_row(aipg, d)["ai_failures"] == 0
    finally:
        lis.close()
    (req,) = llm.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    assert body["model"] == "test-model"
    roles = [(m["role"], m["content"]) for m in body["messages"]]
    assert roles[0][0] == "system"
    assert "Llama shop" in roles[0][1]
    # The best knowledge entry is in the system prompt; the dialog follows, system notices
    # left out.
    assert f"Q: How do I reset my password?\nA: {A_PASSWORD}" in roles[0][1]
    assert roles[1:] == [("assistant", "Hi! I am the greeting"), ("user", "How do I reset my password?")]
    assert KEY not in w.log()


def test_llm_history_is_bounded(aipg, shop, workers, llm):
    d = new_dialog(aipg, shop)
    for i in range(30):
        post(aipg, d, f"old {i}", sender="ai" if i % 2 else "user")
    aipg.sql("UPDATE answer_jobs SET state = 'done' WHERE dialog_id = %s", d)
    post(aipg, d, "newest question")
    workers(env=llm_env(llm, CHATAI_AI_HISTORY="5"))
    wait_ai(aipg, d, 16)
    msgs = llm.requests[-1]["body"]["messages"]
    assert len(msgs) == 6
    assert msgs[-1] == {"role": "user", "content": "newest question"}
    assert msgs[1]["content"] == "old 26"


@pytest.mark.parametrize("mode", ["error500", "malformed", "empty", "notfound", "slow"])
def test_llm_failure_falls_back_to_the_knowledge_base(aipg, shop, workers, llm, mode):
    llm.mode = mode
    llm.delay = 8
    w = workers(env=llm_env(llm, timeout=1))
    d = new_dialog(aipg, shop)
    t0 = time.monotonic()
    post(aipg, d, "What are your opening hours?")
    assert [m["text"] for m in wait_ai(aipg, d)] == [A_HOURS]
    took = time.monotonic() - t0
    assert len(llm.requests) == 1
    assert "LLM call failed" in w.log() and "using the knowledge base" in w.log()
    assert KEY not in w.log()
    assert jobs(aipg, d)[0]["state"] == "done"
    if mode == "slow":
        assert 0.9 < took < 6, f"ai_timeout of 1 s, the service answers after 8 s; answered after {took:.1f} s"
    # Neither answer counts as a failure of the assistant.
    assert dialog_row(aipg, d)["ai_failures"] == 0


def test_llm_down_and_no_knowledge_gives_the_fallback(aipg, workers, llm):
    a = new_assistant(aipg, "Empty", fallback_message="Sorry! Shall I get a human?")
    llm.mode = "error500"
    workers(env=llm_env(llm))
    d = new_dialog(aipg, a)
    post(aipg, d, UNKNOWN)
    assert [m["text"] for m in wait_ai(aipg, d)] == ["Sorry! Shall I get a human?"]
    assert dialog_row(aipg, d)["ai_failures"] == 1


def test_unreachable_llm_service(aipg, shop, workers):
    port = harness.free_port()  # nothing listens there
    w = workers(env={"CHATAI_AI_PROVIDER": "openai", "CHATAI_AI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                     "CHATAI_AI_MODEL": "m", "CHATAI_AI_API_KEY": KEY, "CHATAI_AI_TIMEOUT": "2"})
    d = new_dialog(aipg, shop)
    post(aipg, d, "How do I reset my password?")
    assert [m["text"] for m in wait_ai(aipg, d)] == [A_PASSWORD]
    assert KEY not in w.log()


def test_long_llm_answer_is_cut_to_the_message_limit(aipg, shop, workers, llm):
    llm.reply = "word " * 2000
    workers(env=llm_env(llm))
    d = new_dialog(aipg, shop)
    post(aipg, d, "tell me everything")
    (m,) = wait_ai(aipg, d)
    assert len(m["text"]) <= 4000 and m["text"].startswith("word word")


def test_sighup_reloads_the_settings(aipg, shop, llm, tmp_path):
    import signal
    conf = tmp_path / "chatai.conf"
    conf.write_text('ai_provider = "kb"\n')
    w = harness.AiWorker(aipg, args=["--config", conf]).start()
    try:
        d = new_dialog(aipg, shop)
        post(aipg, d, "How do I reset my password?")
        assert [m["text"] for m in wait_ai(aipg, d)] == [A_PASSWORD]
        # Switch to the LLM without a restart.
        conf.write_text(f'ai_provider = "openai"\nai_base_url = "{llm.base_url}"\n'
                        f'ai_model = "m2"\nai_api_key = "{KEY}"\nai_timeout = 2\n')
        w.kill(signal.SIGHUP)
        harness.wait_until(lambda: "settings reloaded (provider openai; mail off)" in w.log(), message="reload")
        post(aipg, d, "What are your opening hours?")
        assert wait_ai(aipg, d, 2)[1]["text"] == "LLM answer: What are your opening hours?"
        assert llm.requests[-1]["body"]["model"] == "m2"
        # A bad file is refused and the running settings stay.
        conf.write_text('ai_provider = "telepathy"\n')
        w.kill(signal.SIGHUP)
        harness.wait_until(lambda: "keeping the previous ones" in w.log(), message="refused reload")
        post(aipg, d, "Can I return an item?")
        assert wait_ai(aipg, d, 3)[2]["text"] == "LLM answer: Can I return an item?"
        assert w.running
        assert KEY not in w.log()
    finally:
        w.stop()
