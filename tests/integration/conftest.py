# SPDX-License-Identifier: MIT
"""Shared pytest fixtures over harness.py (see docs/internals.md, Tests).

pg         session: a migrated PostgreSQL cluster
stack      session: pg + lighttpd + chatai.fcgi + notifier (no AI worker)
admin      session: {"id", "email", "password", "token"} of an admin operator on stack
assistant  session: the id of an assistant with empty allowed_origins
api        an harness.Api on stack.url
make_stack factory for private stacks a test may break; stopped at teardown
unlimited  module: a private stack on pg without rate limits, its Api and an admin token
           (for a file that makes many dialogs from one address)

When a test fails, the logs of the session stack's processes are attached to its report.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    with harness.Postgres(tmp_path_factory.mktemp("pg")) as p:
        yield p


@pytest.fixture(scope="session")
def stack(pg, tmp_path_factory):
    # The notifier is started when it is built; when it is not, stack.notifier raises
    # HarnessError on use, and /ws/ and /sse/ answer 502/503: tests that need it fail.
    s = harness.Stack(tmp_path_factory.mktemp("stack"), server=os.environ.get("CHATAI_TEST_SERVER", "lighttpd"),
                      notifier="if-built", ai=False, pg=pg)
    _stacks.append(s)
    yield s
    s.stop()
    _stacks.remove(s)


@pytest.fixture(scope="session")
def admin(stack):
    email, password = "admin@test.example", "admin-password-1"
    oid = harness.make_operator(stack.pg, email, password, "Ada Admin", "admin")
    token = harness.Api(stack.url).login(email, password)
    return {"id": oid, "email": email, "password": password, "token": token}


@pytest.fixture(scope="session")
def assistant(stack):
    return harness.make_assistant(stack.pg, "Test assistant", greeting="Hello! How can I help you?")


@pytest.fixture
def api(stack):
    return harness.Api(stack.url)


@pytest.fixture(scope="module")
def unlimited(pg, tmp_path_factory):
    s = harness.Stack(tmp_path_factory.mktemp("unlimited"), notifier="if-built", ai=False, pg=pg,
                      env={k: 0 for k in ("CHATAI_RATE_LIMIT_DIALOGS", "CHATAI_RATE_LIMIT_MESSAGES",
                                          "CHATAI_RATE_LIMIT_TYPING", "CHATAI_RATE_LIMIT_LOGIN",
                                          "CHATAI_RATE_LIMIT_READS")})
    _stacks.append(s)
    email = f"unlimited-{os.getpid()}-{len(_stacks)}@test.example"
    harness.make_operator(pg, email, "unlimited-password-1", "Una Admin", "admin")
    api = harness.Api(s.url)
    yield {"stack": s, "api": api, "token": api.login(email, "unlimited-password-1")}
    s.stop()
    _stacks.remove(s)


@pytest.fixture
def make_stack(tmp_path):
    made = []

    def factory(server="lighttpd", notifier=True, ai=False, env=None, fcgi=None):
        s = harness.Stack(tmp_path / f"stack{len(made)}", server=server, notifier=notifier, ai=ai,
                          env=env, fcgi=fcgi)
        made.append(s)
        _stacks.append(s)
        return s

    yield factory
    for s in made:
        s.stop()
        _stacks.remove(s)


_stacks = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed and _stacks:
        for i, s in enumerate(_stacks):
            try:
                rep.sections.append((f"stack {i} logs", s.logs()[-30000:]))
            except Exception as e:  # a log that cannot be read must not hide the failure
                rep.sections.append((f"stack {i} logs", f"(unreadable: {e})"))
