# SPDX-License-Identifier: MIT
"""The bad-input catalogue: every body-taking endpoint of chatai.fcgi, fed malformed JSON,
wrong types, missing fields, bad text (empty, 4001 characters, invalid UTF-8, NUL raw and
escaped), an oversized body, the wrong content type, missing / expired / foreign tokens and
ids that do not exist or overflow. Each gets its documented status and code (docs/api.md,
Errors) and leaves the database as it was."""

import json

import pytest
import requests

pytest_plugins = ["rest_fixtures"]  # its fixtures, shared by every module of the session
from rest_fixtures import error_of, fingerprint

# (name, method, path, auth, valid body, string fields under the text rule, first required field)
ENDPOINTS = [
    ("login", "POST", "/api/auth/login", None, {"email": "x@y.z", "password": "pw"}, [], "email"),
    ("assistant_create", "POST", "/api/assistants", "admin", {"name": "n"}, ["name"], "name"),
    ("assistant_patch", "PATCH", "/api/assistants/{a}", "admin", {"name": "n"}, ["name"], None),
    ("knowledge_create", "POST", "/api/assistants/{a}/knowledge", "admin", {"question": "q", "answer": "a"},
     ["question", "answer"], "question"),
    ("op_message", "POST", "/api/dialogs/{d}/messages", "op", {"text": "hi"}, ["text"], "text"),
    ("op_typing", "POST", "/api/dialogs/{d}/typing", "op", {"state": "start"}, [], "state"),
    ("op_read", "POST", "/api/dialogs/{d}/read", "op", {"seq": 1}, [], "seq"),
    ("widget_dialog", "POST", "/api/widget/dialogs", None, {"assistant_id": 0}, [], "assistant_id"),
    ("widget_message", "POST", "/api/widget/dialogs/{d}/messages", "visitor", {"sender": "user", "text": "hi"},
     ["text"], "text"),
    ("widget_typing", "POST", "/api/widget/dialogs/{d}/typing", "visitor", {"state": "start"}, [], "state"),
]
IDS = [e[0] for e in ENDPOINTS]

# Endpoints without a body but with ids and tokens.
NOBODY = [
    ("me", "GET", "/api/me", "op"),
    ("dialog", "GET", "/api/dialogs/{d}", "op"),
    ("op_messages", "GET", "/api/dialogs/{d}/messages", "op"),
    ("takeover", "POST", "/api/dialogs/{d}/takeover", "op"),
    ("release", "POST", "/api/dialogs/{d}/release", "op"),
    ("close", "POST", "/api/dialogs/{d}/close", "op"),
    ("inbox", "GET", "/api/inbox", "op"),
    ("dialogs", "GET", "/api/dialogs", "op"),
    ("assistants", "GET", "/api/assistants", "op"),
    ("knowledge_delete", "DELETE", "/api/knowledge/{d}", "admin"),
    ("widget_messages", "GET", "/api/widget/dialogs/{d}/messages", "visitor"),
    ("handoff", "POST", "/api/widget/dialogs/{d}/handoff", "visitor"),
]


@pytest.fixture(scope="module")
def target(env):
    """A dialog, its visitor token, another dialog's token, an expired operator token."""
    d, vt, _ = env.new_dialog()
    d2, vt2, _ = env.new_dialog()
    expired = env.api.login(env.op_email, env.op_password)
    env.pg.sql("UPDATE sessions SET expires_at = now() - interval '1 hour'"
               " WHERE id = (SELECT max(id) FROM sessions WHERE operator_id = %s)", env.op_id)
    return {"d": d, "vt": vt, "d2": d2, "vt2": vt2, "expired": expired}


def call(env, target, ep, data=None, body=None, headers=None, auth="default", ids=None):
    name, method, path, kind = ep[0], ep[1], ep[2], ep[3]
    ids = ids or {}
    path = path.format(a=ids.get("a", env.silent), d=ids.get("d", target["d"]))
    h = {}
    who = kind if auth == "default" else auth
    if who == "admin":
        h["Authorization"] = f"Bearer {env.admin_token}"
    elif who == "op":
        h["Authorization"] = f"Bearer {env.op_token}"
    elif who == "expired":
        h["Authorization"] = f"Bearer {target['expired']}"
    elif who == "visitor":
        h["X-Visitor-Token"] = target["vt"]
    elif who == "foreign":
        h["X-Visitor-Token"] = target["vt2"]
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
    if data is not None and "Content-Type" not in (headers or {}):
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    return requests.request(method, env.url + path, data=data, headers=h, timeout=15)


def valid_body(env, ep):
    b = dict(ep[4])
    if ep[0] == "widget_dialog":
        b["assistant_id"] = env.assistant
    return b


def check(env, before, r, status, code, field="any"):
    got = error_of(r)
    assert got[0] == status and got[1] == code, (got, r.text)
    if field != "any":
        assert got[2] == field, (got, r.text)
    assert fingerprint(env.pg) == before


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_malformed_json(env, target, ep):
    before = fingerprint(env.pg)
    for raw in (b'{"text": ', b"{'text': 'x'}", b"[1, 2]", b'"text"', b"{} trailing", b"", b"nul\x00l",
                b'{"text": "a\x00b", "email": "a\x00", "state": "\x00"}', b"\xff\xfe{}"):
        r = call(env, target, ep, data=raw)
        if raw == b"":
            check(env, before, r, 400, "invalid_json", None)
        else:
            check(env, before, r, 400, "invalid_json", None)


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_wrong_content_type(env, target, ep):
    before = fingerprint(env.pg)
    good = json.dumps(valid_body(env, ep)).encode()
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1",
               "application/jsonx"):
        check(env, before, call(env, target, ep, data=good, headers={"Content-Type": ct}),
              415, "unsupported_media_type", None)
    # no Content-Type at all
    r = requests.request(ep[1], env.url + ep[2].format(a=env.silent, d=target["d"]), data=good,
                         headers={k: v for k, v in {"Authorization": f"Bearer {env.admin_token}",
                                                    "X-Visitor-Token": target["vt"]}.items()}, timeout=15)
    check(env, before, r, 415, "unsupported_media_type", None)


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_oversized_body(env, target, ep):
    before = fingerprint(env.pg)
    big = json.dumps({"text": "x" * (65 * 1024), "name": "n"}).encode()
    check(env, before, call(env, target, ep, data=big), 413, "payload_too_large", None)
    # just over the limit
    edge = b'{"text":"' + b"y" * (64 * 1024 - 10) + b'"}'
    assert len(edge) == 64 * 1024 + 1
    check(env, before, call(env, target, ep, data=edge), 413, "payload_too_large", None)


def test_body_of_exactly_64_kib_is_read(env, target):
    body = b'{"text": "exactly 64 KiB"' + b" " * (64 * 1024 - 26) + b"}"
    assert len(body) == 64 * 1024
    r = call(env, target, ENDPOINTS[4], data=body)
    assert r.status_code == 201 and r.json()["text"] == "exactly 64 KiB"


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_missing_fields(env, target, ep):
    before = fingerprint(env.pg)
    r = call(env, target, ep, body={})
    check(env, before, r, 400, "validation_failed", ep[6])


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_wrong_types(env, target, ep):
    before = fingerprint(env.pg)
    good = valid_body(env, ep)
    for key in good:
        if key == "sender":
            continue
        for wrong in ([], {"a": 1}, True, "12" if isinstance(good[key], int) else 12, 1.5):
            b = dict(good)
            b[key] = wrong
            if ep[0] == "assistant_patch" and key == "name" and wrong is None:
                continue
            check(env, before, call(env, target, ep, body=b), 400, "validation_failed", key)


@pytest.mark.parametrize("ep", ENDPOINTS, ids=IDS)
def test_nul_escape(env, target, ep):
    before = fingerprint(env.pg)
    good = valid_body(env, ep)
    key = next((k for k, v in good.items() if isinstance(v, str) and k != "sender"), None)
    if key is None:
        key = next(iter(good))
        raw = json.dumps(good)[:-1] + ', "extra": "a\\u0000b"}'
        check(env, before, call(env, target, ep, data=raw.encode()), 400, "validation_failed", "extra")
        return
    b = dict(good)
    b[key] = "a\u0000b"
    raw = json.dumps(b)
    assert "\\u0000" in raw
    check(env, before, call(env, target, ep, data=raw.encode()), 400, "validation_failed", key)


TEXT_EPS = [e for e in ENDPOINTS if e[5]]


@pytest.mark.parametrize("ep", TEXT_EPS, ids=[e[0] for e in TEXT_EPS])
def test_text_rule(env, target, ep):
    before = fingerprint(env.pg)
    for key in ep[5]:
        for bad in ("", "   \n\t ", "x" * 4001, "é" * 4001):
            b = valid_body(env, ep)
            b[key] = bad
            if ep[0] == "assistant_create" and key == "name" and len(bad) > 200:
                pass
            check(env, before, call(env, target, ep, body=b), 400, "validation_failed", key)
        # invalid UTF-8 inside the string: raw bytes (JSON escapes cannot make them)
        for raw_bad in (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"):
            b = valid_body(env, ep)
            b[key] = "PLACEHOLDER"
            raw = json.dumps(b).encode().replace(b"PLACEHOLDER", b"a" + raw_bad + b"b")
            check(env, before, call(env, target, ep, data=raw), 400, "validation_failed", key)


@pytest.mark.parametrize("ep", [e for e in ENDPOINTS if e[3]] + [e for e in NOBODY],
                         ids=[e[0] for e in ENDPOINTS if e[3]] + [e[0] for e in NOBODY])
def test_missing_and_bad_tokens(env, target, ep):
    before = fingerprint(env.pg)
    body = valid_body(env, ep) if len(ep) > 4 else None
    check(env, before, call(env, target, ep, body=body, auth=None), 401, "unauthorized", None)
    if ep[3] in ("op", "admin"):
        check(env, before, call(env, target, ep, body=body, auth="expired"), 401, "unauthorized", None)
        check(env, before, call(env, target, ep, body=body, auth="visitor"), 401, "unauthorized", None)
    if ep[3] == "admin":
        check(env, before, call(env, target, ep, body=body, auth="op"), 403, "forbidden", None)
    if ep[3] == "visitor":
        check(env, before, call(env, target, ep, body=body, auth="foreign"), 403, "forbidden", None)
        check(env, before, call(env, target, ep, body=body, auth="op"), 401, "unauthorized", None)


ID_EPS = [e for e in ENDPOINTS + NOBODY if "{" in e[2]]


@pytest.mark.parametrize("ep", ID_EPS, ids=[e[0] for e in ID_EPS])
def test_ids_that_do_not_exist_or_overflow(env, target, ep):
    before = fingerprint(env.pg)
    body = valid_body(env, ep) if len(ep) > 4 else None
    for bad in ("999999999999", "9223372036854775807", "9223372036854775808", "99999999999999999999999",
                "0", "-1", "abc", "1.5", "%27%3B--"):
        key = "a" if "{a}" in ep[2] else "d"
        r = call(env, target, ep, body=body, ids={key: bad})
        check(env, before, r, 404, "not_found", None)


def test_sql_meta_characters_everywhere(env, target):
    """Meta-characters in every string field are data: stored verbatim or refused cleanly."""
    evil = "'; DROP TABLE messages; --"
    before_tables = env.pg.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0]
    r = requests.post(env.url + "/api/auth/login", json={"email": evil, "password": evil}, timeout=15)
    assert error_of(r) == (401, "invalid_credentials", None)
    r = requests.post(env.url + f"/api/dialogs/{target['d']}/messages", json={"text": evil, "client_id": evil},
                      headers={"Authorization": f"Bearer {env.op_token}"}, timeout=15)
    assert r.status_code == 201 and r.json()["text"] == evil and r.json()["client_id"] == evil
    r = requests.get(env.url + f"/api/dialogs/{target['d']}/messages?after=1%27%20OR%201=1",
                     headers={"Authorization": f"Bearer {env.op_token}"}, timeout=15)
    assert error_of(r) == (400, "validation_failed", "after")
    r = requests.get(env.url + f"/api/widget/dialogs/{target['d']}/messages",
                     params={"visitor_token": evil}, timeout=15)
    assert error_of(r) == (401, "unauthorized", None)
    r = requests.post(env.url + "/api/widget/dialogs", json={"assistant_id": env.assistant, "page_url": evil},
                      timeout=15)
    assert r.status_code == 201
    d = r.json()["dialog_id"]
    assert env.pg.sql("SELECT visitor->>'page_url' FROM dialogs WHERE id = %s", d)[0][0] == evil
    assert env.pg.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == before_tables
