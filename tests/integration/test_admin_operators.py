# SPDX-License-Identifier: MIT
"""Operators over REST (issue 14): GET/POST /api/operators, PATCH /api/operators/{id},
PATCH /api/me, GET /api/team; disabling or a new password revokes every session at once
(PATCH /api/me: all but the caller's); the last active admin stays."""

import threading
import uuid

import pytest

import harness
pytest_plugins = ["rest_fixtures"]
from rest_fixtures import error_of
from admin_helpers import expect_auth, expect_bad_bodies, new_operator, wait_status

OP_KEYS = {"id", "email", "name", "role", "disabled", "last_seen_at"}


def test_list_shape_and_no_hash(env):
    r = env.admin().get("/api/operators")
    assert r.status_code == 200, r.text
    ops = r.json()["operators"]
    assert set(r.json()) == {"operators"}
    assert all(set(o) == OP_KEYS for o in ops)
    me = [o for o in ops if o["id"] == env.admin_id][0]
    assert me["role"] == "admin" and me["disabled"] is False and me["last_seen_at"].endswith("Z")
    assert "$y$" not in r.text and "password" not in r.text
    assert [o["id"] for o in ops] == sorted(o["id"] for o in ops)


def test_auth_refusals(env):
    expect_auth(env, "GET", "/api/operators", True)
    expect_auth(env, "POST", "/api/operators", True, {"email": "x@y.z", "name": "X", "role": "operator",
                                                      "password": "0123456789"})
    expect_auth(env, "PATCH", f"/api/operators/{env.op_id}", True, {"name": "X"})
    expect_auth(env, "PATCH", "/api/me", False, {"name": "X"})


def test_create(env):
    email = f"Create-{uuid.uuid4().hex[:8]}@Test.example"
    r = env.admin().post("/api/operators", json={"email": email, "name": "  Cleo  ", "role": "operator",
                                                 "password": "a-long-password"})
    assert r.status_code == 201, r.text
    j = r.json()
    assert set(j) == OP_KEYS and j["email"] == email and j["name"] == "Cleo" and j["role"] == "operator"
    assert j["disabled"] is False and j["last_seen_at"] is None
    tok = env.api.login(email.lower(), "a-long-password")
    assert env.api.op(tok).get("/api/me").json()["id"] == j["id"]
    # the same email in another case is taken
    r = env.admin().post("/api/operators", json={"email": email.upper(), "name": "Dup", "role": "admin",
                                                 "password": "a-long-password"})
    assert error_of(r)[:2] == (409, "conflict")


@pytest.mark.parametrize("body,field", [
    ({"name": "N", "role": "operator", "password": "0123456789"}, "email"),
    ({"email": "no-at-sign", "name": "N", "role": "operator", "password": "0123456789"}, "email"),
    ({"email": "a b@c.d", "name": "N", "role": "operator", "password": "0123456789"}, "email"),
    ({"email": 5, "name": "N", "role": "operator", "password": "0123456789"}, "email"),
    ({"email": "v@x.example", "name": "N", "role": "operator", "password": "short"}, "password"),
    ({"email": "v@x.example", "name": "N", "role": "operator", "password": "123456789"}, "password"),
    ({"email": "v@x.example", "name": "N", "role": "operator", "password": 1234567890}, "password"),
    ({"email": "v@x.example", "name": "N", "role": "operator", "password": "p" * 600}, "password"),
    ({"email": "v@x.example", "name": "N", "role": "root", "password": "0123456789"}, "role"),
    ({"email": "v@x.example", "name": "N", "role": "admin'; DROP TABLE operators;--",
      "password": "0123456789"}, "role"),
    ({"email": "v@x.example", "name": "", "role": "operator", "password": "0123456789"}, "name"),
    ({"email": "v@x.example", "name": "a\u0007b", "role": "operator", "password": "0123456789"}, "name"),
    ({"email": "v@x.example", "name": "n" * 201, "role": "operator", "password": "0123456789"}, "name"),
    ({"email": "v@x.example", "name": ["N"], "role": "operator", "password": "0123456789"}, "name"),
])
def test_create_validation(env, body, field):
    before = env.pg.sql("SELECT count(*) FROM operators")[0][0]
    r = env.admin().post("/api/operators", json=body)
    assert error_of(r) == (400, "validation_failed", field), r.text
    assert env.pg.sql("SELECT count(*) FROM operators")[0][0] == before


def test_bad_bodies(env):
    expect_bad_bodies(env.admin(), "POST", "/api/operators")
    expect_bad_bodies(env.admin(), "PATCH", f"/api/operators/{env.op_id}")
    expect_bad_bodies(env.admin(), "PATCH", "/api/me")


def test_sql_metacharacters_are_data(env):
    email = f"o'brien+{uuid.uuid4().hex[:6]}@x.example"
    r = env.admin().post("/api/operators", json={"email": email, "name": "Robert'); DROP TABLE operators;--",
                                                 "role": "operator", "password": "0123456789ab"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Robert'); DROP TABLE operators;--"
    assert env.pg.sql("SELECT email FROM operators WHERE id = %s", r.json()["id"])[0][0] == email


def test_patch_name_role_password(env):
    oid, email, pw, tok = new_operator(env)
    r = env.admin().patch(f"/api/operators/{oid}", json={"name": "Renamed", "role": "admin"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["role"] == "admin" and set(r.json()) == OP_KEYS
    # the session sees its new role at once (admin route allowed)
    assert wait_status(lambda: env.api.op(tok).get("/api/operators"), 200).status_code == 200
    r = env.admin().patch(f"/api/operators/{oid}", json={"role": "operator"})
    assert r.status_code == 200 and r.json()["role"] == "operator"
    assert wait_status(lambda: env.api.op(tok).get("/api/operators"), 403).status_code == 403
    tok2 = env.api.login(email, pw)
    r = env.admin().patch(f"/api/operators/{oid}", json={"password": "brand-new-password"})
    assert r.status_code == 200, r.text
    # the admin's reset ends every session of the operator, in every process of the pool
    assert env.pg.sql("SELECT count(*) FROM sessions WHERE operator_id = %s AND revoked_at IS NULL", oid) == [(0,)]
    for t in (tok, tok2):
        assert error_of(wait_status(lambda: env.api.op(t).get("/api/me"), 401))[:2] == (401, "unauthorized")
        for _ in range(12):
            assert env.api.op(t).get("/api/me").status_code == 401
    assert env.api.op(env.api.login(email, "brand-new-password")).get("/api/me").status_code == 200
    r = env.api.s.post("/api/auth/login", json={"email": email, "password": pw})
    assert error_of(r)[:2] == (401, "invalid_credentials")


@pytest.mark.parametrize("body,field", [
    ({}, None), ({"name": 7}, "name"), ({"role": "boss"}, "role"), ({"disabled": "yes"}, "disabled"),
    ({"disabled": 1}, "disabled"), ({"password": "short"}, "password"), ({"name": ""}, "name"),
])
def test_patch_validation(env, body, field):
    r = env.admin().patch(f"/api/operators/{env.op_id}", json=body)
    assert error_of(r) == (400, "validation_failed", field), r.text


def test_patch_unknown_id(env):
    for path in ("/api/operators/999999999", "/api/operators/0", "/api/operators/abc"):
        assert error_of(env.admin().patch(path, json={"name": "X"}))[:2] == (404, "not_found")


def test_disable_revokes_every_session_and_refuses_login(env):
    oid, email, pw, tok1 = new_operator(env)
    tok2 = env.api.login(email, pw)
    for t in (tok1, tok2):
        assert env.api.op(t).get("/api/me").status_code == 200
    r = env.admin().patch(f"/api/operators/{oid}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True, r.text
    assert env.pg.sql("SELECT count(*) FROM sessions WHERE operator_id = %s AND revoked_at IS NULL", oid)[0][0] == 0
    for t in (tok1, tok2):
        r = wait_status(lambda: env.api.op(t).get("/api/me"), 401)
        assert error_of(r)[:2] == (401, "unauthorized")
        # every process of the pool refuses it (4 chatai.fcgi behind lighttpd)
        for _ in range(12):
            assert env.api.op(t).get("/api/me").status_code == 401
    r = env.api.s.post("/api/auth/login", json={"email": email, "password": pw})
    assert error_of(r)[:2] == (401, "invalid_credentials")
    # a session row written by hand is refused too (the trigger)
    env.pg.sql("INSERT INTO sessions (operator_id, token_hash, expires_at) VALUES (%s, 'x', now() + interval '1 h')",
               oid)
    assert env.pg.sql("SELECT count(*) FROM sessions WHERE operator_id = %s AND token_hash = 'x'", oid)[0][0] == 0
    r = env.admin().patch(f"/api/operators/{oid}", json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert env.api.op(env.api.login(email, pw)).get("/api/me").status_code == 200


class OnlyAdmins:
    """Every admin but `keep` disabled in the database for the test (their sessions stay)."""

    def __init__(self, env, keep):
        self.env, self.keep = env, keep

    def __enter__(self):
        self.ids = [r[0] for r in self.env.pg.sql(
            "UPDATE operators SET disabled_at = now() WHERE role = 'admin' AND disabled_at IS NULL"
            " AND NOT (id = ANY(%s)) RETURNING id", list(self.keep))]
        return self

    def __exit__(self, *exc):
        self.env.pg.sql("UPDATE operators SET disabled_at = NULL WHERE id = ANY(%s)", self.ids)


def test_last_active_admin(env):
    with OnlyAdmins(env, [env.admin_id]):
        for body in ({"disabled": True}, {"role": "operator"}, {"role": "operator", "disabled": True}):
            r = env.admin().patch(f"/api/operators/{env.admin_id}", json=body)
            assert error_of(r)[:2] == (409, "conflict"), r.text
        assert env.pg.sql("SELECT role, disabled_at IS NULL FROM operators WHERE id = %s",
                          env.admin_id)[0] == ("admin", True)
        # the last admin may still change its name or password
        assert env.admin().patch(f"/api/operators/{env.admin_id}", json={"name": "Ada"}).status_code == 200


def test_last_admin_race(env):
    """Two admins disabling each other at once: exactly one wins, the other gets 409."""
    for _ in range(3):
        a_id, _, _, a_tok = new_operator(env, role="admin")
        b_id, _, _, b_tok = new_operator(env, role="admin")
        with OnlyAdmins(env, [a_id, b_id]):
            out = {}

            def go(tok, target):
                out[target] = env.api.op(tok).patch(f"/api/operators/{target}", json={"disabled": True})
            ts = [threading.Thread(target=go, args=(a_tok, b_id)), threading.Thread(target=go, args=(b_tok, a_id))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            codes = sorted(r.status_code for r in out.values())
            assert codes in ([200, 409], [200, 401]), [r.text for r in out.values()]
            assert env.pg.sql("SELECT count(*) FROM operators WHERE id IN (%s, %s) AND disabled_at IS NULL",
                              a_id, b_id)[0][0] == 1
        env.pg.sql("UPDATE operators SET disabled_at = now() WHERE id IN (%s, %s)", a_id, b_id)


def test_me_patch(env):
    oid, email, pw, tok = new_operator(env)
    s = env.api.op(tok)
    r = s.patch("/api/me", json={"name": "Me Myself"})
    assert r.status_code == 200 and r.json()["name"] == "Me Myself" and r.json()["id"] == oid, r.text
    assert wait_status(lambda: s.get("/api/me"), 200).json()["name"] == "Me Myself"
    assert error_of(s.patch("/api/me", json={"password": "another-password"})) == \
        (400, "validation_failed", "current_password")
    assert error_of(s.patch("/api/me", json={"password": "another-password", "current_password": "wrong-one!"})) == \
        (400, "validation_failed", "current_password")
    assert error_of(s.patch("/api/me", json={"password": "another-password", "current_password": 5})) == \
        (400, "validation_failed", "current_password")
    assert error_of(s.patch("/api/me", json={"password": "short", "current_password": pw})) == \
        (400, "validation_failed", "password")
    assert error_of(s.patch("/api/me", json={})) == (400, "validation_failed", None)
    # role and disabled are not the operator's to change
    assert error_of(s.patch("/api/me", json={"role": "admin"}))[:2] == (400, "validation_failed")
    # the refusals above revoked nothing
    other = env.api.login(email, pw)
    r = s.patch("/api/me", json={"password": "another-password", "current_password": pw})
    assert r.status_code == 200, r.text
    # every other session ends; the one that asked goes on, in every process of the pool
    assert error_of(wait_status(lambda: env.api.op(other).get("/api/me"), 401))[:2] == (401, "unauthorized")
    for _ in range(12):
        assert env.api.op(other).get("/api/me").status_code == 401
        assert s.get("/api/me").status_code == 200
    assert s.patch("/api/me", json={"name": "Still Me"}).status_code == 200
    env.api.login(email, "another-password")
    assert error_of(env.api.s.post("/api/auth/login", json={"email": email, "password": pw}))[0] == 401


def test_team_names_for_any_operator(env):
    """GET /api/team: id, name and role of the active operators, by name, to any operator."""
    zed, _, _, _ = new_operator(env)
    assert env.admin().patch(f"/api/operators/{zed}", json={"name": "Zz Last"}).status_code == 200
    aa, _, _, _ = new_operator(env, role="admin")
    assert env.admin().patch(f"/api/operators/{aa}", json={"name": "Aa First"}).status_code == 200
    off, _, _, _ = new_operator(env)
    assert env.admin().patch(f"/api/operators/{off}", json={"disabled": True}).status_code == 200
    for s in (env.op(), env.admin()):
        r = s.get("/api/team")
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"operators"}
        team = r.json()["operators"]
        assert all(set(o) == {"id", "name", "role"} for o in team)
        ids = [o["id"] for o in team]
        assert ids == [x[0] for x in env.pg.sql("SELECT id FROM operators WHERE disabled_at IS NULL"
                                                 " ORDER BY name, id")]
        assert ids.index(aa) < ids.index(zed)
        assert zed in ids and aa in ids and off not in ids
        assert {"id": aa, "name": "Aa First", "role": "admin"} in team
        assert {"id": zed, "name": "Zz Last", "role": "operator"} in team
        assert "@" not in r.text and "$y$" not in r.text and "disabled" not in r.text
    active = env.pg.sql("SELECT count(*) FROM operators WHERE disabled_at IS NULL")[0][0]
    assert len(env.op().get("/api/team").json()["operators"]) == active
    expect_auth(env, "GET", "/api/team", False)
    assert error_of(env.op().post("/api/team", json={}))[0] == 405
