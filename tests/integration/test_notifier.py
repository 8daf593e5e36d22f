# SPDX-License-Identifier: MIT
"""chatai-notifier as a real process against a real PostgreSQL.

Messages are written with chatai_post_message() in SQL here (the one sanctioned way to
store a message, as the REST workers do); test_notifier_e2e.py goes through the REST API
and the web server's proxy.
"""

import json
import os
import signal
import socket
import threading
import time
from types import SimpleNamespace

import pytest

import harness
from notifier_fixtures import (SseClient, World, WsClient, WsClosed, drain, make_session, metrics_of, post,
                               post_many, read_to_eof, sse_admin_url, sse_from, sse_site_url, wait_subscribed,
                               ws_admin_url, ws_site_url)

# A missing chatai-notifier is an error, not a skip: harness.binary() raises naming the file
# and the make target that builds it.


@pytest.fixture(scope="module")
def notifier(pg, tmp_path_factory):
    n = harness.Notifier(pg, env={"CHATAI_LOG_LEVEL": "info"}).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def world(pg):
    return World(pg)


# ---------------------------------------------------------------------------------------
# health and metrics


def test_health_and_metrics(notifier):
    import requests
    r = requests.get(notifier.url + "/health", timeout=5)
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok"
    assert h["database"] == {"listen": "up", "query": "up"}
    assert set(h["connections"]) >= {"websocket", "sse"}
    assert h["uptime_seconds"] >= 0
    m = requests.get(notifier.url + "/metrics", timeout=5)
    assert m.status_code == 200
    assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in ("chatai_notifier_connections{transport=\"websocket\"}", "chatai_notifier_events_in_total",
                 "chatai_notifier_events_out_total", "chatai_notifier_replays_total",
                 "chatai_notifier_slow_clients_dropped_total",
                 "chatai_notifier_notify_to_send_seconds_bucket{le=\"+Inf\"}"):
        assert name in m.text


def test_http_errors(notifier):
    import requests
    r = requests.get(notifier.url + "/nope", timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.post(notifier.url + "/sse/inbox", data=b"", timeout=5)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = requests.get(notifier.url + "/ws/inbox?token=x", timeout=5)
    assert r.status_code == 400  # no upgrade
    r = requests.get(notifier.url + "/sse/inbox", headers={"X-Big": "a" * 9000}, timeout=5)
    assert r.status_code == 431
    r = requests.get(notifier.url + "/sse/inbox?token=" + "t" * 3000, timeout=5)
    assert r.status_code == 414
    s = socket.create_connection(("127.0.0.1", notifier.port), timeout=5)
    s.sendall(b"GET /ws/inbox HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 426")
    s.close()
    s = socket.create_connection(("127.0.0.1", notifier.port), timeout=5)
    s.sendall(b"GET /ws/inbox HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 400")
    s.close()
    # Invalid cursors.
    r = requests.get(notifier.url + "/sse/dialogs/1?token=x&since=-4", timeout=5)
    assert r.status_code == 400 and r.json()["error"]["field"] == "since"


# ---------------------------------------------------------------------------------------
# routing (API.md, Routing), on both transports


def open_all(n, w, did, vt, transport):
    if transport == "ws":
        a = WsClient(ws_admin_url(n, did, w.token))
        s = WsClient(ws_site_url(n, did, w.assistant, vt))
        i = WsClient(f"{n.ws_url}/ws/inbox?token={w.token}")
    else:
        a = SseClient(sse_admin_url(n, did, w.token))
        s = SseClient(sse_site_url(n, did, w.assistant, vt))
        i = SseClient(f"{n.url}/sse/inbox?token={w.token}")
        for c in (a, s, i):
            assert c.status == 200
    return a, s, i


def recv(c, timeout=5.0):
    if isinstance(c, WsClient):
        return c.recv(timeout)
    return c.next_event(timeout)[1]


def silent(c, seconds=0.4):
    try:
        ev = recv(c, seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected {ev}")


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_routing_table(notifier, world, pg, transport):
    did, vt = world.dialog()
    other, _ = world.dialog()
    a, s, i = open_all(notifier, world, did, vt, transport)
    wait_subscribed(notifier, "websocket" if transport == "ws" else "sse", 3)
    pg.sql("SELECT chatai_notify_dialog(%s, 'dialog_created')", did)
    ev = recv(i)
    assert ev["type"] == "dialog_created" and ev["dialog"]["id"] == did

    # Visitor message: admin channel and inbox, not the site channel.
    m = post(pg, did, "user", "from the visitor")
    assert recv(a) == m
    got = [recv(i), recv(i)]  # the message and its dialog_updated, in commit order
    assert got[0] == m
    assert got[1]["type"] == "dialog_updated" and got[1]["dialog"]["last_seq"] == m["seq"]
    silent(s)

    # ai, manager and system messages: everywhere.
    for sender in ("ai", "manager", "system"):
        m = post(pg, did, sender, f"from {sender}")
        assert recv(a) == m
        assert recv(s) == m
        assert recv(i) == m
        assert recv(i)["type"] == "dialog_updated"

    # Typing of ai / manager: site only. Typing of the visitor: admin only. Never inbox.
    for who in ("ai", "manager"):
        pg.sql("SELECT chatai_typing(%s, %s, 'start')", did, who)
        assert recv(s) == {"type": "typing_start", "dialog_id": did, "who": who}
        silent(a, 0.2)
    pg.sql("SELECT chatai_typing(%s, 'user', 'stop')", did)
    assert recv(a) == {"type": "typing_stop", "dialog_id": did, "who": "user"}
    silent(s, 0.2)

    # Another dialog's events reach only the inbox.
    m = post(pg, other, "ai", "elsewhere")
    assert recv(i) == m
    silent(a, 0.2)
    silent(s, 0.2)
    for c in (a, s, i):
        c.close()


def test_sse_frames_ids_and_retry(notifier, world, pg):
    did, vt = world.dialog()
    c = SseClient(sse_admin_url(notifier, did, world.token))
    assert c.status == 200
    assert c.headers["content-type"].startswith("text/event-stream")
    assert c.headers["cache-control"] == "no-cache"
    first = c.next_block()
    assert first == ["retry: 2000"]
    m = post(pg, did, "ai", "line one\nline two")
    block = c.next_block()
    assert block[0] == f"id: {m['seq']}"
    assert json.loads(block[1][len("data: "):]) == m  # JSON escapes the newline: one data line
    pg.sql("SELECT chatai_typing(%s, 'user', 'start')", did)
    block = c.next_block()
    assert block == [f'data: {{"type":"typing_start","dialog_id":{did},"who":"user"}}']  # no id
    c.close()


def test_widget_sse_cors_header(notifier, pg):
    w = World(pg, allowed_origins=("https://shop.example",))
    did, vt = w.dialog()
    c = SseClient(sse_site_url(notifier, did, w.assistant, vt), headers={"Origin": "https://shop.example"})
    assert c.status == 200
    assert c.headers["access-control-allow-origin"] == "https://shop.example"
    c.close()


def test_big_message_by_reference(notifier, world, pg):
    did, vt = world.dialog()
    a = WsClient(ws_admin_url(notifier, did, world.token))
    s = SseClient(sse_site_url(notifier, did, world.assistant, vt))
    i = WsClient(f"{notifier.ws_url}/ws/inbox?token={world.token}")
    wait_subscribed(notifier, "sse", 1)
    text = "é" * 3990  # ~8 KB of UTF-8: sent by reference ("ref":true)
    m = post(pg, did, "ai", text)
    got = a.recv()
    assert got == m and got["text"] == text
    assert s.next_event()[1] == m
    assert i.recv() == m
    m2 = post(pg, did, "ai", "short after long")
    assert a.recv() == m2
    for c in (a, s, i):
        c.close()


def test_client_ping_typing_and_junk(notifier, world, pg):
    did, vt = world.dialog()
    a = WsClient(ws_admin_url(notifier, did, world.token))
    v = WsClient(ws_site_url(notifier, did, world.assistant, vt))
    for junk in ("not json", "[]", '{"type": 5}', '{"type":"message","text":"x"}', '{"a":"\\u0000"}'):
        v.send_text(junk)
    v.send_json({"type": "ping"})
    assert v.recv() == {"type": "pong"}
    v.send_json({"type": "typing_start"})
    assert a.recv() == {"type": "typing_start", "dialog_id": did, "who": "user"}
    time.sleep(0.3)
    a.send_json({"type": "typing_stop"})
    assert v.recv() == {"type": "typing_stop", "dialog_id": did, "who": "manager"}
    # Nothing was stored.
    assert pg.sql("SELECT count(*) FROM messages WHERE dialog_id = %s", did)[0][0] == 0
    a.close()
    v.close()


# ---------------------------------------------------------------------------------------
# authentication


def ws_code(url, origin=None):
    c = WsClient(url, origin=origin)
    try:
        if "token=" not in url:
            # No credentials in the URL: the first message must bring them (docs/streams.md);
            # anything else is refused like a bad token.
            c.send_json({"type": "ping"})
        return c.expect_close()
    finally:
        c.close()


@pytest.fixture(scope="module")
def other(pg):
    """Another assistant's world, its widget allowed on https://shop.example only."""
    return World(pg, allowed_origins=("https://shop.example",))


def test_ws_auth_refusals(notifier, pg, world, other):
    n = notifier
    did, vt = world.dialog()
    odid, ovt = other.dialog()
    expired, _ = make_session(pg, world.operator, expires="-1 second")
    revoked, _ = make_session(pg, world.operator, revoked=True)
    cases = [
        (f"{n.ws_url}/ws/dialogs/{did}", None, 4401),
        (f"{n.ws_url}/ws/dialogs/{did}?token=not-a-token", None, 4401),
        (ws_admin_url(n, did, "A" * 43), None, 4401),
        (ws_admin_url(n, did, expired), None, 4401),
        (ws_admin_url(n, did, revoked), None, 4401),
        (ws_admin_url(n, 999999, world.token), None, 4404),
        (f"{n.ws_url}/ws/inbox?token={revoked}", None, 4401),
        # the guide's URL alone does not open a dialog
        (f"{n.ws_url}/ws/widget/dialogs/{did}?assistant_id={world.assistant}", None, 4401),
        (ws_site_url(n, did, world.assistant, ovt), None, 4401),
        (ws_site_url(n, did, other.assistant, vt), None, 4403),
        (f"{n.ws_url}/ws/widget/dialogs/{did}?visitor_token={vt}", None, 4403),
        (ws_site_url(n, 999999, world.assistant, vt), None, 4404),
        (ws_site_url(n, odid, other.assistant, ovt), "https://evil.example", 4403),
        (ws_site_url(n, did, world.assistant, vt, since="x"), None, 1008),
    ]
    for url, origin, code in cases:
        assert ws_code(url, origin) == code, url
    # What is allowed is allowed.
    for url, origin in ((ws_site_url(n, odid, other.assistant, ovt), "https://shop.example"),
                        (ws_site_url(n, did, world.assistant, vt), "https://anything.example")):
        ok = WsClient(url, origin=origin)
        ok.send_json({"type": "ping"})
        assert ok.recv() == {"type": "pong"}
        ok.close()


def test_sse_auth_refusals(notifier, world, other):
    n = notifier
    did, vt = world.dialog()
    odid, ovt = other.dialog()
    cases = [
        (f"{n.url}/sse/dialogs/{did}", None, 401, "unauthorized"),
        (sse_admin_url(n, did, "B" * 43), None, 401, "unauthorized"),
        (sse_admin_url(n, 999999, world.token), None, 404, "not_found"),
        (f"{n.url}/sse/inbox?token=zz", None, 401, "unauthorized"),
        (f"{n.url}/sse/widget/dialogs/{did}?assistant_id={world.assistant}", None, 401, "unauthorized"),
        (sse_site_url(n, did, world.assistant, ovt), None, 401, "unauthorized"),
        (sse_site_url(n, did, other.assistant, vt), None, 403, "forbidden"),
        (sse_site_url(n, 999999, world.assistant, vt), None, 404, "not_found"),
        (sse_site_url(n, odid, other.assistant, ovt), "https://evil.example", 403, "forbidden"),
    ]
    for url, origin, status, code in cases:
        c = SseClient(url, headers={"Origin": origin} if origin else None)
        assert c.status == status, url
        assert c.headers["content-type"].startswith("application/json")
        body = json.loads(c.body)
        assert body["error"]["code"] == code and body["error"]["message"]
        c.close()


def test_logout_revokes_streams(notifier, pg, world):
    did, _ = world.dialog()
    tok, sid = make_session(pg, world.operator)
    w = WsClient(ws_admin_url(notifier, did, tok))
    s = SseClient(sse_admin_url(notifier, did, tok))
    keep = WsClient(ws_admin_url(notifier, did, world.token))  # another session stays
    wait_subscribed(notifier, "sse", 1)
    pg.sql("UPDATE sessions SET revoked_at = now() WHERE id = %s", sid)
    pg.sql("SELECT pg_notify('chatai', json_build_object('k', 'revoke', 'session_id', %s::bigint)::text)", sid)
    assert w.expect_close() == 4401
    assert s.ended()
    m = post(pg, did, "ai", "still here")
    assert keep.recv() == m
    assert ws_code(ws_admin_url(notifier, did, tok)) == 4401
    keep.close()


# ---------------------------------------------------------------------------------------
# resume


def burst(pg, did, n, sender="ai", delay=0.0):
    def run():
        conn = pg.connect()
        cur = conn.cursor()
        for k in range(n):
            cur.execute("SELECT 1 FROM chatai_post_message(%s, %s, %s)", (did, sender, f"burst {k}"))
            if delay:
                time.sleep(delay)
        conn.close()
    t = threading.Thread(target=run)
    t.start()
    return t


def test_ws_resume_mid_burst(notifier, world, pg):
    did, _ = world.dialog()
    c = WsClient(ws_admin_url(notifier, did, world.token))
    t = burst(pg, did, 500)
    got = [m["seq"] for m in c.recv_messages(150, timeout=30)]
    c.sock.close()  # abrupt: no close frame
    last = got[-1]
    c2 = WsClient(ws_admin_url(notifier, did, world.token, since=last))
    rest = [m["seq"] for m in c2.recv_messages(500 - last, timeout=60)]
    t.join()
    assert got == list(range(1, last + 1))
    assert rest == list(range(last + 1, 501))
    c2.expect_silence(0.5)
    c2.close()


@pytest.mark.parametrize("how", ["header", "last_event_id", "since"])
def test_sse_resume_mid_burst(notifier, world, pg, how):
    did, _ = world.dialog()
    c = SseClient(sse_admin_url(notifier, did, world.token))
    t = burst(pg, did, 500)
    got = c.messages(200, timeout=30)
    c.close()
    assert [int(eid) for eid, _ in got] == list(range(1, 201))
    last = got[-1][0]
    if how == "header":
        c2 = SseClient(sse_admin_url(notifier, did, world.token), headers={"Last-Event-ID": last})
    elif how == "last_event_id":
        c2 = SseClient(f"{notifier.url}/sse/dialogs/{did}?token={world.token}&last_event_id={last}")
    else:
        c2 = SseClient(sse_admin_url(notifier, did, world.token, since=last))
    rest = c2.messages(300, timeout=60)
    t.join()
    assert [int(eid) for eid, _ in rest] == list(range(201, 501))
    assert [ev["seq"] for _, ev in rest] == list(range(201, 501))
    c2.close()


def test_site_resume_skips_visitor_messages(notifier, world, pg):
    did, vt = world.dialog()
    msgs = []
    for k in range(20):
        msgs.append(post(pg, did, "user" if k % 2 == 0 else "ai", f"m{k}"))
    c = WsClient(ws_site_url(notifier, did, world.assistant, vt, since=5))
    want = [m for m in msgs if m["sender"] != "user" and m["seq"] > 5]
    assert c.recv_messages(len(want)) == want
    # Live after replay, no gap on the site channel despite the skipped seqs.
    m = post(pg, did, "user", "not for the site")
    m2 = post(pg, did, "manager", "for the site")
    assert c.recv() == m2
    c.expect_silence(0.3)
    c.close()
    assert m["seq"] + 1 == m2["seq"]


def test_cursor_past_the_end_starts_live(notifier, world, pg):
    did, _ = world.dialog()
    post(pg, did, "ai", "one")
    c = WsClient(ws_admin_url(notifier, did, world.token, since=999))
    m = post(pg, did, "ai", "two")
    assert c.recv() == m
    c.close()


def test_many_resumers_during_live_traffic(notifier, world, pg):
    """Clients joining with cursors while messages keep coming: each gets every seq once."""
    did, _ = world.dialog()
    t = burst(pg, did, 300, delay=0.002)
    # Cursors must be real ones (a cursor past the dialog's end is not trusted and starts
    # live from the end), so wait until the burst has passed the highest one used here.
    harness.wait_until(lambda: pg.sql("SELECT last_seq FROM dialogs WHERE id = %s", did)[0][0] >= 27,
                       timeout=20)
    clients = []
    for k in range(10):
        clients.append(WsClient(ws_admin_url(notifier, did, world.token, since=k * 3)))
        time.sleep(0.02)
    t.join()
    for k, c in enumerate(clients):
        seqs = [m["seq"] for m in c.recv_messages(300 - k * 3, timeout=60)]
        assert seqs == list(range(k * 3 + 1, 301))
        c.expect_silence(0.2)
        c.close()


# ---------------------------------------------------------------------------------------
# failures: PostgreSQL restart, notifier SIGKILL


@pytest.fixture
def own(tmp_path):
    """A PostgreSQL and a notifier of the test's own (it may stop, kill or restart them),
    an operator's session and a dialog: .pg, .n, .w (the World), .did, .vt."""
    with harness.Postgres(tmp_path / "pg") as pg, harness.Notifier(pg) as n:
        w = World(pg)
        did, vt = w.dialog()
        yield SimpleNamespace(pg=pg, n=n, w=w, did=did, vt=vt)


def both_streams(o):
    """An operator's WebSocket and the visitor's SSE stream on o's dialog, both subscribed."""
    a = WsClient(ws_admin_url(o.n, o.did, o.w.token))
    s = SseClient(sse_site_url(o.n, o.did, o.w.assistant, o.vt))
    wait_subscribed(o.n, "sse", 1)
    return a, s


def test_postgres_restart_loses_nothing(own):
    pg, n, did = own.pg, own.n, own.did
    a, s = both_streams(own)
    first = post_many(pg, did, "ai", [f"before {k}" for k in range(10)])
    pg.restart()
    # Written at once, most likely before the notifier has LISTENed again.
    second = post_many(pg, did, "ai", [f"after {k}" for k in range(10)])
    harness.wait_until(lambda: metrics_of(n)["chatai_notifier_db_up{link=\"listen\"}"] == 1, timeout=15)
    third = post_many(pg, did, "manager", [f"later {k}" for k in range(5)])
    want = first + second + third
    assert a.recv_messages(len(want), timeout=20) == want
    assert [ev for _, ev in s.messages(len(want), timeout=20)] == want
    a.expect_silence(0.3)
    assert n.running
    a.close()
    s.close()


def test_notifier_sigkill_and_restart(own):
    pg, n, w, did, vt = own.pg, own.n, own.w, own.did, own.vt
    a, s = both_streams(own)
    first = post_many(pg, did, "ai", [f"a{k}" for k in range(20)])
    got_a = a.recv_messages(20)
    got_s = s.messages(20)
    assert got_a == first and [e for _, e in got_s] == first
    n.kill(signal.SIGKILL)
    n.wait(5)
    second = post_many(pg, did, "ai", [f"b{k}" for k in range(30)])
    with harness.Notifier(pg, port=n.port) as n2:
        a2 = WsClient(ws_admin_url(n2, did, w.token, since=got_a[-1]["seq"]))
        s2 = SseClient(sse_site_url(n2, did, w.assistant, vt), headers={"Last-Event-ID": s.last_id})
        assert a2.recv_messages(30) == second
        assert [e for _, e in s2.messages(30)] == second
        third = post(pg, did, "manager", "live again")
        assert a2.recv() == third
        assert s2.next_event()[1] == third
        a2.close()
        s2.close()


# ---------------------------------------------------------------------------------------
# lifecycle and limits


def test_heartbeats_and_dead_peer(pg, world):
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_PING_INTERVAL": 1, "CHATAI_NOTIFIER_PEER_TIMEOUT": 2,
                                  "CHATAI_NOTIFIER_SSE_PING_INTERVAL": 1}).start()
    try:
        did, _ = world.dialog()
        alive = WsClient(ws_admin_url(n, did, world.token))  # answers pings (wsproto does)
        s = SseClient(sse_admin_url(n, did, world.token))
        assert s.next_block() == ["retry: 2000"]
        assert s.next_block(timeout=3) == [": ping"]
        # A peer that never answers: handshake by hand, then silence.
        dead = socket.create_connection(("127.0.0.1", n.port))
        dead.sendall((f"GET /ws/dialogs/{did}?token={world.token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
        t0 = time.monotonic()
        closed_at = []

        def watch_dead():
            dead.settimeout(8)
            data = read_to_eof(dead)
            closed_at.append((time.monotonic() - t0, data))
        t = threading.Thread(target=watch_dead)
        t.start()
        # Meanwhile the answering client keeps reading (and so answers pings).
        while time.monotonic() - t0 < 4.5:
            try:
                alive.recv(0.2)
            except TimeoutError:
                pass
        t.join()
        elapsed, data = closed_at[0]
        assert data.startswith(b"HTTP/1.1 101")
        assert b"\x89\x00" in data  # it was pinged
        assert 1.5 < elapsed < 4.5
        m = post(pg, did, "ai", "still alive")
        assert alive.recv() == m
        alive.close()
        s.close()
    finally:
        n.stop()


def test_handshake_timeout_slowloris(pg):
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_HANDSHAKE_TIMEOUT": 1}).start()
    try:
        s = socket.create_connection(("127.0.0.1", n.port))
        s.sendall(b"GET /sse/inbox HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(5)
        t0 = time.monotonic()
        for _ in range(3):
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.3)
        assert s.recv(100) == b""
        assert time.monotonic() - t0 < 3
    finally:
        n.stop()


def test_per_address_cap(pg, world):
    # 127.0.0.1 is a trusted proxy by default (counted after the head): trust nobody here
    # to check the refusal at accept time.
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_PER_IP": 3, "CHATAI_NOTIFIER_TRUSTED_PROXIES": "none"}).start()
    try:
        did, _ = world.dialog()
        held = [WsClient(ws_admin_url(n, did, world.token)) for _ in range(3)]
        s = socket.create_connection(("127.0.0.1", n.port))
        s.settimeout(5)
        assert s.recv(200).startswith(b"HTTP/1.1 429")
        held[0].close()
        time.sleep(0.3)
        again = WsClient(ws_admin_url(n, did, world.token))
        again.close()
        for c in held[1:]:
            c.close()
    finally:
        n.stop()


def test_per_address_cap_behind_a_trusted_proxy(pg, world):
    """From a trusted proxy (127.0.0.1 by default) the cap counts X-Forwarded-For's last address."""
    def sse(n, did, xff):
        return sse_from(n, did, world.token, xff)

    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_PER_IP": 2}).start()
    try:
        did, _ = world.dialog()
        held = []
        for xff in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.5, 198.51.100.1"):
            s, head = sse(n, did, xff)
            assert head.startswith(b"HTTP/1.1 200"), (xff, head)
            held.append(s)
        s, head = sse(n, did, "198.51.100.1")  # a third one from .1
        assert head.startswith(b"HTTP/1.1 429")
        s.close()
        # The proxy's own connections (no X-Forwarded-For) are capped as its address.
        direct = [WsClient(ws_admin_url(n, did, world.token)) for _ in range(2)]
        s = socket.create_connection(("127.0.0.1", n.port))
        s.settimeout(5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 429")
        s.close()
        for d in direct:
            d.close()
        for s in held:
            s.close()
    finally:
        n.stop()
    # Not trusted: the header is ignored and the peer address counts.
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_PER_IP": 2, "CHATAI_NOTIFIER_TRUSTED_PROXIES": "none"}).start()
    try:
        did, _ = world.dialog()
        a, ha = sse(n, did, "198.51.100.1")
        b, hb = sse(n, did, "198.51.100.2")
        c = socket.create_connection(("127.0.0.1", n.port))
        c.settimeout(5)
        assert ha.startswith(b"HTTP/1.1 200") and hb.startswith(b"HTTP/1.1 200")
        assert c.recv(100).startswith(b"HTTP/1.1 429")
        for s in (a, b, c):
            s.close()
    finally:
        n.stop()


def test_slow_reader_dropped_others_unaffected(pg, world):
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_QUEUE": 262144, "CHATAI_NOTIFIER_SOFT_QUEUE": 131072,
                                  "CHATAI_NOTIFIER_SOFT_QUEUE_SECONDS": 1, "CHATAI_NOTIFIER_SNDBUF": 16384,
                                  "CHATAI_LOG_LEVEL": "info"}).start()
    try:
        did, _ = world.dialog()
        quiet, _ = world.dialog()  # the idle ones hold streams of a dialog with no traffic
        idle = []
        for k in range(500):
            s = socket.create_connection(("127.0.0.1", n.port))
            s.sendall((f"GET /sse/dialogs/{quiet}?token={world.token} HTTP/1.1\r\nHost: x\r\n\r\n"
                       if k % 2 else
                       f"GET /ws/dialogs/{quiet}?token={world.token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
            idle.append(s)
        # The slow one: a tiny receive buffer and it never reads.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", n.port))
        slow.sendall((f"GET /ws/dialogs/{did}?token={world.token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
        slow_sse = socket.socket()
        slow_sse.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow_sse.connect(("127.0.0.1", n.port))
        slow_sse.sendall(f"GET /sse/dialogs/{did}?token={world.token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reader = WsClient(ws_admin_url(n, did, world.token))
        wait_subscribed(n, "websocket", 252)
        wait_subscribed(n, "sse", 251)
        big = "x" * 3000
        lat = []
        sent = {}

        def writer():
            conn = pg.connect()
            cur = conn.cursor()
            for k in range(200):
                sent[k + 1] = time.monotonic()
                cur.execute("SELECT 1 FROM chatai_post_message(%s, 'ai', %s)", (did, f"{k} {big}"))
            conn.close()
        t = threading.Thread(target=writer)
        t.start()
        for k in range(200):
            m = reader.recv(10)
            lat.append(time.monotonic() - sent[m["seq"]])
            assert m["seq"] == k + 1
        t.join()
        assert max(lat) < 1.0, max(lat)
        harness.wait_until(lambda: metrics_of(n)["chatai_notifier_slow_clients_dropped_total"] >= 2, timeout=10)
        # The slow SSE reader's stream was ended: after what it had, end of file.
        slow_sse.settimeout(5)
        sse_data, eof = drain(slow_sse)
        assert sse_data.startswith(b"HTTP/1.1 200") and eof
        assert sse_data.count(b"\nid: ") < 200  # it did not get everything: it resumes with Last-Event-ID
        # The slow one was closed with 1013 after what it had: it resumes with its cursor.
        slow.setblocking(True)
        slow.settimeout(5)
        data, _ = drain(slow)
        assert b"\x88" in data and (1013).to_bytes(2, "big") in data
        again = WsClient(ws_admin_url(n, did, world.token, since=0))
        assert [m["seq"] for m in again.recv_messages(200, timeout=20)] == list(range(1, 201))
        again.close()
        reader.close()
        for s in idle:
            s.close()
    finally:
        n.stop()


def test_ping_flood_from_a_client_that_does_not_read(pg, world):
    """Answers to a client's own requests count against its queue too: a client that sends
    thousands of {"type":"ping"} and never reads is cut (1013), and nothing breaks."""
    from notifier_fixtures import frame
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_QUEUE": 8192, "CHATAI_NOTIFIER_SNDBUF": 4096}).start()
    try:
        did, _ = world.dialog()
        c = WsClient(ws_admin_url(n, did, world.token))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ping = frame(0x1, b'{"type":"ping"}')
        try:
            for _ in range(40):
                c.send_raw(ping * 500)
        except OSError:
            pass  # the server may have cut us already
        harness.wait_until(lambda: metrics_of(n)["chatai_notifier_slow_clients_dropped_total"] >= 1, timeout=10)
        other = WsClient(ws_admin_url(n, did, world.token))
        other.send_json({"type": "ping"})
        assert other.recv() == {"type": "pong"}
        other.close()
        c.close()
        assert n.running
    finally:
        n.stop()


def test_sigterm_closes_with_1001_and_ends_sse(pg, world):
    n = harness.Notifier(pg).start()
    did, _ = world.dialog()
    w = WsClient(ws_admin_url(n, did, world.token))
    s = SseClient(sse_admin_url(n, did, world.token))
    wait_subscribed(n, "sse", 1)
    os.kill(n.pid, signal.SIGTERM)
    assert w.expect_close() == 1001
    w.close()
    assert s.ended()
    assert n.wait(5) == 0


def test_sighup_reload(pg, world, tmp_path):
    conf = tmp_path / "notifier.conf"
    conf.write_text("notifier_sse_ping_interval = 30\n")
    n = harness.Notifier(pg, env={"CHATAI_CONFIG": str(conf)}).start()
    try:
        did, _ = world.dialog()
        conf.write_text("notifier_sse_ping_interval = 1\n")
        os.kill(n.pid, signal.SIGHUP)
        harness.wait_until(lambda: "configuration reloaded" in n.log(), timeout=5)
        s = SseClient(sse_admin_url(n, did, world.token))
        assert s.next_block() == ["retry: 2000"]
        assert s.next_block(timeout=3) == [": ping"]
        s.close()
    finally:
        n.stop()


def test_ipv4_and_ipv6_listeners(pg, world):
    port = harness.free_port()
    n = harness.Notifier(pg, port=port, env={"CHATAI_NOTIFIER_LISTEN": f"127.0.0.1:{port},[::1]:{port}"}).start()
    try:
        def health_v6():
            s = socket.create_connection(("::1", port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            ok = s.recv(100).startswith(b"HTTP/1.1 200")
            s.close()
            return ok
        harness.wait_until(health_v6, timeout=10, message="/health over IPv6")
        import requests
        assert requests.get(n.url + "/health", timeout=5).status_code == 200
    except OSError as e:
        if "Cannot assign" in str(e) or "unreachable" in str(e):
            pytest.skip("no IPv6 loopback here")
        raise
    finally:
        n.stop()


def test_database_down_refuses_new_streams_clearly(own):
    import requests
    pg, n, w, did = own.pg, own.n, own.w, own.did
    keep = WsClient(ws_admin_url(n, did, w.token))
    pg.stop()
    harness.wait_until(lambda: requests.get(n.url + "/health", timeout=5).status_code == 503, timeout=10)
    h = requests.get(n.url + "/health", timeout=5).json()
    assert h["status"] == "degraded" and "down" in h["database"].values()
    t0 = time.monotonic()
    s = SseClient(sse_admin_url(n, did, w.token))
    assert s.status == 503 and json.loads(s.body)["error"]["code"] == "unavailable"
    assert s.headers.get("retry-after")
    assert ws_code(ws_admin_url(n, did, w.token)) == 1013
    assert time.monotonic() - t0 < 5  # said at once, no hang
    keep.send_json({"type": "ping"})
    assert keep.recv() == {"type": "pong"}  # existing clients are kept
    pg.start()
    harness.wait_until(lambda: requests.get(n.url + "/health", timeout=5).status_code == 200, timeout=15)
    m = post(pg, did, "ai", "back")
    assert keep.recv() == m
    ok = SseClient(sse_admin_url(n, did, w.token))
    assert ok.status == 200
    ok.close()
    keep.close()
