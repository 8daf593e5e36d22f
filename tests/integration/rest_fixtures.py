# SPDX-License-Identifier: MIT
"""Fixtures and helpers of the REST / long-poll tests (tests/integration/test_rest*.py,
test_longpoll*.py). Import with `from rest_fixtures import *`.

rest        session: lighttpd + chatai.fcgi (spawned by lighttpd, 4 processes, so that
            what one process learns must reach the others) on the
            shared `pg`, rate limits off (so hundreds of requests from 127.0.0.1 pass),
            no notifier: these tests exercise the REST side only.
env         session: a RestEnv on `rest`: an admin and a plain operator (logged in),
            assistants with and without greeting and one with allowed_origins.
private_stack  factory: a Stack on the shared `pg` with extra settings (e.g. low rate
            limits); stopped at teardown.
"""

import os
import re
import time
import uuid
from pathlib import Path

import pytest
import requests

import harness

NO_LIMITS = {"CHATAI_RATE_LIMIT_DIALOGS": 0, "CHATAI_RATE_LIMIT_MESSAGES": 0,
             "CHATAI_RATE_LIMIT_TYPING": 0, "CHATAI_RATE_LIMIT_LOGIN": 0, "CHATAI_RATE_LIMIT_READS": 0}

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="session")
def rest(pg, tmp_path_factory):
    s = harness.Stack(tmp_path_factory.mktemp("rest"), notifier=False, pg=pg, env=NO_LIMITS, fcgi_procs=4)
    yield s
    s.stop()


class RestEnv:
    def __init__(self, stack):
        self.stack = stack
        self.pg = stack.pg
        self.url = stack.url
        self.api = harness.Api(stack.url)
        # This session lives for the whole test run: no idle keep-alive connection that
        # lighttpd may close just as the next request goes out (a POST is not retried).
        self.api.s.headers["Connection"] = "close"
        tag = uuid.uuid4().hex[:8]
        self.admin_email = f"rest-admin-{tag}@test.example"
        self.admin_password = "rest-admin-pw-1"
        self.admin_id = harness.make_operator(self.pg, self.admin_email, self.admin_password, "Ada", "admin")
        self.admin_token = self.api.login(self.admin_email, self.admin_password)
        self.op_email = f"rest-op-{tag}@test.example"
        self.op_password = "rest-op-pw-1"
        self.op_id = harness.make_operator(self.pg, self.op_email, self.op_password, "Otto", "operator")
        self.op_token = self.api.login(self.op_email, self.op_password)
        self.assistant = harness.make_assistant(self.pg, "Greeter", greeting="Hello! How can I help?")
        self.silent = harness.make_assistant(self.pg, "Silent")
        self.guarded = harness.make_assistant(self.pg, "Guarded", greeting="Hi",
                                              allowed_origins=("https://shop.example",))
        # chatai-ctl takes exact origins only; the API also takes wildcard subdomains.
        self.pg.sql("UPDATE assistants SET allowed_origins = allowed_origins || '{https://*.brand.example}'"
                    " WHERE id = %s", self.guarded)

    def admin(self):
        return self.api.op(self.admin_token)

    def op(self):
        return self.api.op(self.op_token)

    def new_dialog(self, assistant=None, **kw):
        return self.api.create_dialog(assistant or self.assistant, **kw)

    def widget(self, vt, origin=None):
        """A session carrying a visitor token (and optionally an Origin)."""
        h = {"X-Visitor-Token": vt}
        if origin:
            h["Origin"] = origin
        return harness.BaseUrlSession(self.url, h)


@pytest.fixture(scope="session")
def env(rest):
    return RestEnv(rest)


@pytest.fixture
def private_stack(pg, tmp_path):
    made = []

    def factory(env=None, **kw):
        s = harness.Stack(tmp_path / f"private{len(made)}", notifier=False, pg=pg, env=env, **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.stop()


def error_of(r):
    """(status, code, field) of an error answer; fails when the body is not the error JSON."""
    assert r.headers.get("Content-Type", "").startswith("application/json"), (r.status_code, r.text)
    j = r.json()
    assert set(j) == {"error"}, j
    e = j["error"]
    assert isinstance(e.get("message"), str) and e["message"], j
    return r.status_code, e["code"], e.get("field")


def fingerprint(pg):
    """A summary of every chat table that a refused request must leave as it was."""
    return pg.sql(
        "SELECT (SELECT count(*) FROM messages),"
        " (SELECT md5(COALESCE(string_agg(id || ':' || dialog_id || ':' || seq || ':' || sender || ':' || text"
        "   || ':' || COALESCE(client_id, '-'), ',' ORDER BY id), '')) FROM messages),"
        " (SELECT count(*) FROM dialogs),"
        " (SELECT md5(COALESCE(string_agg(id || status || last_seq || ':' || read_seq || ':'"
        "   || COALESCE(assigned_to, 0) || visitor::text, ',' ORDER BY id), '')) FROM dialogs),"
        " (SELECT count(*) FROM sessions), (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL),"
        " (SELECT md5(COALESCE(string_agg(id || name || greeting || allowed_origins::text, ',' ORDER BY id), ''))"
        "   FROM assistants),"
        " (SELECT count(*) FROM knowledge), (SELECT count(*) FROM inbox_events),"
        " (SELECT count(*) FROM answer_jobs), (SELECT count(*) FROM operators)")[0]


def fcgi_pids(web):
    """Pids of the chatai.fcgi processes lighttpd started (its children)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        m = re.match(r"\d+ \((.*)\) \S+ (\d+)", stat)
        if m and m.group(1).startswith("chatai.fcgi") and int(m.group(2)) == web.pid:
            pids.append(int(d.name))
    return sorted(pids)


def wait_ok(fn, timeout=20.0, what="success"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last is not None and getattr(last, "status_code", 500) < 500:
                return last
        except requests.RequestException as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s: {last!r}")
