# SPDX-License-Identifier: MIT
"""The REST processes' caches (fcgi/authcache.h): verified sessions and widget dialogs are
remembered only while nothing says otherwise. Every change reaches EVERY process (4 here)
through LISTEN/NOTIFY, within the bound documented in docs/internals.md: as soon as
PostgreSQL delivers the notification (normally within a millisecond), and never later than
auth_cache_ttl. The stack here sets auth_cache_ttl to 300 s, so a change seen within
BOUND seconds can only have come through the notification."""

import time

import pytest
import requests

import harness
from rest_fixtures import NO_LIMITS, RestEnv

N = 40  # requests after each change: with 4 processes, every one of them answers several
BOUND = 3.0  # seconds: notification delivery on a loaded test machine, with room


@pytest.fixture(scope="module")
def env(pg, tmp_path_factory):
    st = harness.Stack(tmp_path_factory.mktemp("cache"), notifier=False, pg=pg, fcgi_procs=4,
                       env={**NO_LIMITS, "CHATAI_AUTH_CACHE_TTL": 300})
    try:
        yield RestEnv(st)
    finally:
        st.stop()


def settles(url, headers, want):
    """Within BOUND seconds, N requests in a row on fresh connections all answer `want`;
    from then on they keep answering it. Returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        codes = [r.status_code for r in fresh(url, headers)]
        if codes == [want] * N:
            break
        assert time.monotonic() - t0 < BOUND, f"still {codes} after {BOUND} s"
        time.sleep(0.02)
    took = time.monotonic() - t0
    assert [r.status_code for r in fresh(url, headers)] == [want] * N
    return took


def fresh(url, headers):
    """N requests, each on its own connection (lighttpd spreads them over its processes)."""
    out = []
    for _ in range(N):
        out.append(requests.get(url, headers={**headers, "Connection": "close"}, timeout=10))
    return out


def login(env, email, password):
    return harness.Api(env.url).login(email, password)


def new_operator(env, tag, role="operator"):
    email = f"cache-{tag}@test.example"
    oid = harness.make_operator(env.pg, email, "cache-password-1", f"Cache {tag}", role)
    return oid, login(env, email, "cache-password-1")


def warm(env, tok):
    codes = [r.status_code for r in fresh(env.url + "/api/me", {"Authorization": f"Bearer {tok}"})]
    assert codes == [200] * N, codes


def test_logout_refused_at_once_everywhere(env):
    oid, tok = new_operator(env, "logout")
    warm(env, tok)
    h = {"Authorization": f"Bearer {tok}", "Connection": "close"}
    assert requests.post(env.url + "/api/auth/logout", headers=h, timeout=10).status_code == 204
    settles(env.url + "/api/me", h, 401)
    # an operator request of another kind too
    assert requests.get(env.url + "/api/dialogs", headers=h, timeout=10).status_code == 401


def test_revoked_or_expired_by_hand_refused_at_once(env):
    oid, tok = new_operator(env, "revoke")
    warm(env, tok)
    env.pg.sql("UPDATE sessions SET revoked_at = now() WHERE operator_id = %s", oid)
    h = {"Authorization": f"Bearer {tok}"}
    settles(env.url + "/api/me", h, 401)

    oid2, tok2 = new_operator(env, "expire")
    warm(env, tok2)
    env.pg.sql("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE operator_id = %s", oid2)
    settles(env.url + "/api/me", {"Authorization": f"Bearer {tok2}"}, 401)

    oid3, tok3 = new_operator(env, "deleted")
    warm(env, tok3)
    env.pg.sql("DELETE FROM operators WHERE id = %s", oid3)
    settles(env.url + "/api/me", {"Authorization": f"Bearer {tok3}"}, 401)


def test_role_and_name_changes_seen_at_once(env):
    oid, tok = new_operator(env, "promote")
    warm(env, tok)
    h = {"Authorization": f"Bearer {tok}"}
    # an admin-only route refuses the operator...
    assert requests.post(env.url + "/api/assistants", json={"name": "x"}, headers=h, timeout=10).status_code == 403
    env.pg.sql("UPDATE operators SET role = 'admin', name = 'Renamed' WHERE id = %s", oid)
    t0 = time.monotonic()
    while not all(r.status_code == 200 and r.json()["role"] == "admin" and r.json()["name"] == "Renamed"
                  for r in fresh(env.url + "/api/me", h)):
        assert time.monotonic() - t0 < BOUND
        time.sleep(0.02)
    env.pg.sql("UPDATE operators SET role = 'operator' WHERE id = %s", oid)
    t0 = time.monotonic()
    while True:
        codes = [requests.post(env.url + "/api/assistants", json={"name": "x"},
                               headers={**h, "Connection": "close"}, timeout=10).status_code for _ in range(N)]
        if codes == [403] * N:
            break
        assert time.monotonic() - t0 < BOUND, codes
        time.sleep(0.02)


def test_widget_origin_change_seen_at_once(env):
    aid = harness.make_assistant(env.pg, "Cached origins", allowed_origins=("https://one.example",))
    d, vt, _ = env.api.create_dialog(aid, headers={"Origin": "https://one.example"})
    u = env.url + f"/api/widget/dialogs/{d}/messages"
    ok = {"X-Visitor-Token": vt, "Origin": "https://one.example"}
    assert [r.status_code for r in fresh(u, ok)] == [200] * N
    env.pg.sql("UPDATE assistants SET allowed_origins = '{https://two.example}' WHERE id = %s", aid)
    settles(u, ok, 403)
    assert [r.status_code for r in fresh(u, {**ok, "Origin": "https://two.example"})] == [200] * N
    # a wrong token for a cached dialog is still refused, and a right one from the cache accepted
    assert requests.get(u, headers={**ok, "Origin": "https://two.example", "X-Visitor-Token": "A" * 43},
                        timeout=10).status_code == 403
    # the dialog deleted (with its assistant): 404, never the cached answer
    env.pg.sql("DELETE FROM assistants WHERE id = %s", aid)
    settles(u, {**ok, "Origin": "https://two.example"}, 404)


def test_listen_link_lost_turns_the_cache_off(env):
    """A process whose LISTEN link is gone cannot hear revocations: it must not answer
    from memory. Kill every LISTEN link of the REST processes, revoke by hand at once
    (before they reconnect), and the session must still be refused."""
    oid, tok = new_operator(env, "nolisten")
    warm(env, tok)
    admin = env.pg.admin_url if hasattr(env.pg, "admin_url") else env.pg.url
    import psycopg2
    c = psycopg2.connect(admin)
    c.autocommit = True
    cur = c.cursor()
    cur.execute("SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN chatai'"
                " AND application_name = '' AND pid <> pg_backend_pid()")
    pids = [r[0] for r in cur.fetchall()]
    assert len(pids) >= 4, pids  # one per REST process (and other stacks' LISTEN links)
    cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))

    def gone():
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
        return cur.fetchone()[0] == 0
    # The links are really down (a revocation in the very instant a link breaks is
    # covered by auth_cache_ttl: docs/internals.md)...
    harness.wait_until(gone, timeout=10, interval=0.01, message="LISTEN backends gone")
    cur.execute("UPDATE sessions SET revoked_at = now() WHERE operator_id = %s", (oid,))
    c.close()
    settles(env.url + "/api/me", {"Authorization": f"Bearer {tok}"}, 401)
