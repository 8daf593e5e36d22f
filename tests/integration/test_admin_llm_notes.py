# SPDX-License-Identifier: MIT
"""A private note never reaches the LLM: chatai-ai's conversation history leaves notes out
(issue 14; the fake LLM of tests/integration/fake_llm.py records what it was sent)."""

import pytest

from ai_fixtures import aipg, new_assistant, new_dialog, post, wait_ai, workers  # noqa: F401
from fake_llm import FakeLLM


@pytest.fixture
def llm():
    f = FakeLLM().start()
    yield f
    f.stop()


def test_note_not_in_llm_context(aipg, workers, llm):
    a = new_assistant(aipg, "Note bot")
    d = new_dialog(aipg, a)
    post(aipg, d, "Welcome!", sender="ai")
    aipg.sql("SELECT chatai_dialog_note(%s, NULL, 'SECRET internal note')", d)
    post(aipg, d, "Where is my order?")
    workers(env={"CHATAI_AI_PROVIDER": "openai", "CHATAI_AI_BASE_URL": llm.base_url,
                 "CHATAI_AI_MODEL": "m", "CHATAI_AI_TIMEOUT": "5", "CHATAI_AI_LEASE": "30"})
    wait_ai(aipg, d, 2)
    body = llm.requests[-1]["body"]
    assert "SECRET" not in str(body)
    assert [(m["role"], m["content"]) for m in body["messages"][1:]] == \
        [("assistant", "Welcome!"), ("user", "Where is my order?")]
