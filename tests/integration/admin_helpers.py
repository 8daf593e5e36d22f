# SPDX-License-Identifier: MIT
"""Helpers of the admin-route tests (tests/integration/test_admin_*.py, issue 14)."""

import time
import uuid

import harness
from rest_fixtures import error_of

# Bodies every body-taking route must refuse, with the expected (status, code).
BAD_BODIES = [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b'{"a": "\xff\xfe"}', 400, None),        # invalid UTF-8
    (b"x" * (65 * 1024), 413, "payload_too_large"),
]


def new_operator(env, role="operator", password="operator-pw-123"):
    """A fresh operator made over REST by the env admin: (id, email, password, token)."""
    email = f"adm-{uuid.uuid4().hex[:10]}@test.example"
    r = env.admin().post("/api/operators", json={"email": email, "name": "New One", "role": role,
                                                  "password": password})
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    return oid, email, password, env.api.login(email, password)


def expect_bad_bodies(session, method, path):
    """Every malformed body is refused with the documented error."""
    for raw, status, code in BAD_BODIES:
        r = session.request(method, path, data=raw, headers={"Content-Type": "application/json"})
        st, c, _ = error_of(r)
        assert st == status, (raw[:20], r.text)
        if code:
            assert c == code, (raw[:20], r.text)
    r = session.request(method, path, data=b"{}", headers={"Content-Type": "text/plain"})
    assert error_of(r)[:2] == (415, "unsupported_media_type")


def expect_auth(env, method, path, admin_only, body=None):
    """401 without a token and with a foreign one; 403 for a plain operator when admin_only."""
    kw = {"json": body} if body is not None else {}
    r = harness.BaseUrlSession(env.url).request(method, path, **kw)
    assert error_of(r)[:2] == (401, "unauthorized"), r.text
    foreign = harness.BaseUrlSession(env.url, {"Authorization": "Bearer " + "A" * 43})
    assert error_of(foreign.request(method, path, **kw))[:2] == (401, "unauthorized")
    if admin_only:
        assert error_of(env.op().request(method, path, **kw))[:2] == (403, "forbidden")


def wait_status(fn, status, timeout=5.0):
    """Call fn until it answers status (the other processes learn by NOTIFY); the answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.05)
