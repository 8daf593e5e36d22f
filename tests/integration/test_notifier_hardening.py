# SPDX-License-Identifier: MIT
"""The notifier against a hostile client (issue 12, the notifier's items).

Each test here failed on the notifier as it was before the fix it covers:

- pings from a client that does not read: every byte queued counts against the caps at
  once, many pings get one pong, and the memory goes back;
- logout while a stream is still authenticating, and sessions that expire while they
  stream;
- typing over WebSocket follows the REST rules (closed dialog, per-address limit);
- an Origin that is not UTF-8 is refused before any query.
"""

import json
import socket
import time

import pytest

import harness
from notifier_fixtures import (SseClient, World, WsClient, WsClosed, frame, make_session, metrics_of,
                               post, read_to_eof, sse_admin_url, sse_site_url, ws_admin_url, ws_site_url)

# A missing chatai-notifier is an error, not a skip: harness.binary() raises naming the file
# and the make target that builds it.


@pytest.fixture(scope="module")
def world(pg):
    return World(pg)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raw_ws(n, path, rcvbuf=None, extra=""):
    """A WebSocket handshake by hand (the socket's receive buffer set before connecting);
    returns the socket once the 101 head is read."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", n.port))
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n").encode())
    s.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionResetError("closed during the handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def flood(sock, data, times):
    """Send data `times` times; stops quietly when the server has cut the connection."""
    sock.settimeout(10)
    try:
        for _ in range(times):
            sock.sendall(data)
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------------------
# 1. pings from a client that does not read


def test_ping_frames_cost_one_pong_and_memory_stays_flat(pg, world):
    """16 MB of WebSocket pings from a client that never reads: before, one pong per ping
    was queued (two copies each, never checked against the caps) and the notifier's RSS
    grew by about 100 MB for good. Now the pings of one read are answered by one pong."""
    if b"__asan_init" in harness.binary("chatai-notifier").read_bytes():
        pytest.skip("resident size is not measurable under AddressSanitizer")
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_SNDBUF": 4096}).start()
    try:
        did, _ = world.dialog()
        rss0 = rss_kib(n.pid)
        s = raw_ws(n, f"/ws/dialogs/{did}?token={world.token}", rcvbuf=4096)
        ping = frame(0x9, b"p" * 125)
        flood(s, ping * 4096, 32)  # 16.8 MB of pings
        time.sleep(0.5)
        grown = rss_kib(n.pid) - rss0
        assert grown < 8 * 1024, f"RSS grew by {grown} KiB during the ping flood"
        # Others are served meanwhile.
        other = WsClient(ws_admin_url(n, did, world.token))
        m = post(pg, did, "ai", "still served")
        assert other.recv() == m
        other.close()
        s.close()
        harness.wait_until(lambda: metrics_of(n)['chatai_notifier_connections{transport="websocket"}'] == 0,
                           message="the flooder gone")
        after = rss_kib(n.pid) - rss0
        assert after < 4 * 1024, f"RSS still {after} KiB above the start after the flooder left"
    finally:
        n.stop()


def test_pongs_count_against_the_hard_cap_at_once(pg, world):
    """Pongs used to be checked against the caps only by the ping timer (25 s): a client
    that does not read could hold 12x the hard cap. Now a connection whose pongs pass the
    hard cap is closed as a slow reader at once."""
    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_QUEUE": 4096, "CHATAI_NOTIFIER_SNDBUF": 4096,
                                  "CHATAI_NOTIFIER_PING_INTERVAL": 60}).start()
    try:
        did, _ = world.dialog()
        s = raw_ws(n, f"/ws/dialogs/{did}?token={world.token}", rcvbuf=4096)
        ping = frame(0x9, b"q" * 125)
        t0 = time.monotonic()
        flood(s, ping * 4096, 64)  # 33 MB of pings, one pong per read of 64 KiB
        harness.wait_until(lambda: metrics_of(n)["chatai_notifier_slow_clients_dropped_total"] >= 1,
                           timeout=10, message="the non-reader dropped")
        assert time.monotonic() - t0 < 30
        s.close()
        assert n.running
    finally:
        n.stop()


# ---------------------------------------------------------------------------------------
# 2. logout while a stream authenticates; 3. sessions that expire while they stream


@pytest.fixture
def slow_auth(pg):
    """A notifier whose view of `sessions` takes 1.5 s to read (a schema first on its
    search_path): its auth queries read the session, then answer 1.5 s later."""
    pg.sql("CREATE SCHEMA IF NOT EXISTS slowauth")
    pg.sql("CREATE OR REPLACE VIEW slowauth.sessions AS SELECT * FROM public.sessions "
           "WHERE (SELECT true FROM pg_sleep(1.5))")
    url = pg.url + "?options=-csearch_path%3Dslowauth,public"
    n = harness.Notifier(pg, env={"CHATAI_DATABASE_URL": url}).start()
    yield n
    n.stop()
    pg.sql("DROP SCHEMA slowauth CASCADE")


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_logout_while_the_stream_authenticates(pg, world, slow_auth, transport):
    """The revocation arrives while the auth query (which read the session before it) is
    still running: before, that stream opened for good and got every event."""
    n = slow_auth
    did, _ = world.dialog()
    tok, sid = make_session(pg, world.operator)
    out = {}

    def open_stream():
        try:
            if transport == "ws":
                out["c"] = WsClient(ws_admin_url(n, did, tok), timeout=10)
            else:
                out["c"] = SseClient(sse_admin_url(n, did, tok), timeout=10)
        except Exception as e:  # refused: also fine
            out["e"] = e
    import threading
    t = threading.Thread(target=open_stream)
    t.start()
    time.sleep(0.5)  # the auth query has read the session and sleeps
    pg.sql("UPDATE sessions SET revoked_at = now() WHERE id = %s", sid)  # the trigger NOTIFYs
    t.join(15)
    c = out.get("c")
    if c is None:
        return  # refused outright
    try:
        if transport == "ws":
            if c.accepted:
                assert c.expect_close(timeout=8) == 4401
        else:
            if c.status == 200:
                assert c.ended(timeout=8)
            else:
                assert c.status == 401
        # Nothing more reaches it.
        post(pg, did, "ai", "after the logout")
    finally:
        c.close()


def test_session_expiry_ends_streams(pg, world):
    """A session that expires while its streams are open: WebSocket 4401, SSE ended, at
    the expiry (before, they streamed on until the client went away)."""
    n = harness.Notifier(pg).start()
    try:
        did, _ = world.dialog()
        tok, sid = make_session(pg, world.operator, expires="3 seconds")
        t0 = time.monotonic()
        w = WsClient(ws_admin_url(n, did, tok))
        s = SseClient(sse_admin_url(n, did, tok))
        inbox = WsClient(f"{n.ws_url}/ws/inbox?token={tok}")
        keep = WsClient(ws_admin_url(n, did, world.token))
        m = post(pg, did, "ai", "before the expiry")
        assert w.recv() == m
        assert w.expect_close(timeout=6) == 4401
        assert inbox.expect_close(timeout=2) == 4401
        assert s.ended(timeout=2)
        assert 2.0 < time.monotonic() - t0 < 6
        m = post(pg, did, "ai", "after it")
        assert keep.recv_messages(2)[-1] == m
        keep.close()
    finally:
        n.stop()


def test_expiry_moved_back_ends_streams_at_the_new_time(pg, world):
    """Expiry moved back (the trigger sends a revoke): the stream stays open while the
    session is valid and ends at the new expiry."""
    n = harness.Notifier(pg).start()
    try:
        did, _ = world.dialog()
        tok, sid = make_session(pg, world.operator)
        w = WsClient(ws_admin_url(n, did, tok))
        pg.sql("UPDATE sessions SET expires_at = now() + interval '2 seconds' WHERE id = %s", sid)
        t0 = time.monotonic()
        m = post(pg, did, "ai", "still valid")
        assert w.recv() == m
        assert w.expect_close(timeout=5) == 4401
        assert time.monotonic() - t0 > 1.0
    finally:
        n.stop()


def test_deleted_session_ends_streams(pg, world):
    n = harness.Notifier(pg).start()
    try:
        did, _ = world.dialog()
        tok, sid = make_session(pg, world.operator)
        w = WsClient(ws_admin_url(n, did, tok))
        s = SseClient(sse_admin_url(n, did, tok))
        pg.sql("DELETE FROM sessions WHERE id = %s", sid)
        assert w.expect_close() == 4401
        assert s.ended()
    finally:
        n.stop()


# ---------------------------------------------------------------------------------------
# 9. an Origin that is not UTF-8


def raw_request(n, path, origin, ws=False):
    """Send a request whose Origin is raw bytes; returns everything read until EOF or 3 s."""
    s = socket.create_connection(("127.0.0.1", n.port))
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + b"Origin: " + origin + b"\r\n"
    if ws:
        head += (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    s.sendall(head + b"\r\n")
    s.settimeout(3)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionError):
        pass
    s.close()
    return data


@pytest.mark.parametrize("origin", [b"https://shop.example\xff", b"https://\xc3\x28.example",
                                    b"https://\xed\xa0\x80.example"])
def test_origin_not_utf8_is_refused_before_any_query(pg, world, origin):
    """Before, the Origin went to PostgreSQL as text: the query failed, the client got 503
    "database unavailable" and the log a warning per request."""
    n = harness.Notifier(pg).start()
    try:
        did, vt = world.dialog()
        before = metrics_of(n)
        site = f"/sse/widget/dialogs/{did}?assistant_id={world.assistant}&visitor_token={vt}"
        data = raw_request(n, site, origin)
        assert data.startswith(b"HTTP/1.1 403"), data[:200]
        body = json.loads(data.partition(b"\r\n\r\n")[2])
        assert body["error"]["code"] == "forbidden"
        data = raw_request(n, "/ws" + site[len("/sse"):], origin, ws=True)
        assert data.startswith(b"HTTP/1.1 101")
        assert b"\x88" in data and (4403).to_bytes(2, "big") in data
        data = raw_request(n, f"/sse/dialogs/{did}?token={world.token}", origin)
        assert data.startswith(b"HTTP/1.1 403"), data[:200]
        assert "invalid byte sequence" not in n.log_tail()
        after = metrics_of(n)
        assert after["chatai_notifier_auth_refused_total"] - before["chatai_notifier_auth_refused_total"] == 3
        # A valid Origin still works.
        ok = WsClient(ws_site_url(n, did, world.assistant, vt), origin="https://shop.example")
        ok.send_json({"type": "ping"})
        assert ok.recv() == {"type": "pong"}
        ok.close()
    finally:
        n.stop()


# ---------------------------------------------------------------------------------------
# 8. typing over WebSocket follows the REST rules


def recv_type(c, t, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        ev = c.recv(max(0.01, deadline - time.monotonic()))
        if ev.get("type") == t:
            return ev


def test_ws_typing_on_a_closed_dialog_is_refused(pg, world):
    """REST answers 409 to typing on a closed dialog; the WebSocket passed it on."""
    n = harness.Notifier(pg).start()
    try:
        did, vt = world.dialog()
        a = WsClient(ws_admin_url(n, did, world.token))
        v = WsClient(ws_site_url(n, did, world.assistant, vt))
        pg.sql("UPDATE dialogs SET status = 'closed' WHERE id = %s", did)
        v.send_json({"type": "typing_start"})
        assert recv_type(v, "error") == {"type": "error", "request": "typing_start",
                                         "error": {"code": "conflict", "message": "the dialog is closed"}}
        time.sleep(0.3)
        a.send_json({"type": "typing_stop"})
        ev = recv_type(a, "error")
        assert ev["error"]["code"] == "conflict" and ev["request"] == "typing_stop"
        a.expect_silence(0.5)
        v.expect_silence(0.2)
        a.close()
        v.close()
    finally:
        n.stop()


def test_ws_typing_has_a_per_address_limit(pg, world):
    """rate_limit_typing counts per address and minute, over all its sockets, as REST."""
    n = harness.Notifier(pg, env={"CHATAI_RATE_LIMIT_TYPING": 3}).start()
    try:
        did, vt = world.dialog()
        a = WsClient(ws_admin_url(n, did, world.token))
        vs = [WsClient(ws_site_url(n, did, world.assistant, vt)) for _ in range(3)]
        # Not across a minute boundary: the windows are fixed minutes.
        if time.time() % 60 > 55:
            time.sleep(61 - time.time() % 60)
        for k in range(6):  # each socket every 0.3 s: under the 4 per second of one socket
            vs[k % 3].send_json({"type": "typing_start"})
            time.sleep(0.1)
        got = 0
        try:
            while True:
                ev = a.recv(0.7)
                if ev.get("type") == "typing_start":
                    got += 1
        except TimeoutError:
            pass
        assert got == 3
        errors = 0
        for v in vs:
            try:
                while True:
                    ev = v.recv(0.3)
                    if ev.get("type") == "error":
                        assert ev["error"]["code"] == "rate_limited"
                        errors += 1
            except TimeoutError:
                pass
        assert errors == 3
        for v in vs:
            v.close()
        # Leaving and coming back does not start the count again.
        harness.wait_until(lambda: metrics_of(n)['chatai_notifier_connections{transport="websocket"}'] == 1,
                           message="the visitors gone")
        v = WsClient(ws_site_url(n, did, world.assistant, vt))
        v.send_json({"type": "typing_stop"})
        assert recv_type(v, "error")["error"]["code"] == "rate_limited"
        v.close()
        a.expect_silence(0.3)
        a.close()
    finally:
        n.stop()


def test_typing_is_shed_when_the_query_queue_is_full(pg, world):
    """The query link's queue has a bound: with 300 auth queries waiting (a lock holds
    them), typing is answered "unavailable" at once instead of queued behind them."""
    n = harness.Notifier(pg).start()
    lock = pg.connect()
    waiting = []
    try:
        did, vt = world.dialog()
        v = WsClient(ws_site_url(n, did, world.assistant, vt))
        lock.autocommit = False
        cur = lock.cursor()
        cur.execute("LOCK TABLE dialogs IN ACCESS EXCLUSIVE MODE")
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", n.port))
            s.sendall(f"GET /sse/dialogs/{did}?token={world.token} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            waiting.append(s)
        harness.wait_until(lambda: metrics_of(n)["chatai_notifier_query_queue"] >= 256, timeout=10,
                           message="the query queue filled")
        v.send_json({"type": "typing_start"})
        ev = recv_type(v, "error", timeout=3)
        assert ev["error"]["code"] == "unavailable" and ev["request"] == "typing_start"
        lock.rollback()
        v.close()
    finally:
        lock.close()
        for s in waiting:
            s.close()
        n.stop()


def test_rest_refuses_an_origin_not_utf8_too(stack, assistant):
    """REST compared the Origin in C (it never reached SQL) but allowed it where the list
    is empty and echoed its bytes in Access-Control-Allow-Origin: now 403 like the
    streams."""
    host, _, port = stack.url[len("http://"):].rstrip("/").partition(":")

    def get(origin):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /api/widget/assistants/%d HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
                  b"Connection: close\r\n\r\n" % (assistant, origin))
        s.settimeout(10)
        data = read_to_eof(s)
        s.close()
        return data
    assert get(b"https://x\xff.example").startswith(b"HTTP/1.1 403")
    assert get(b"https://ok.example").startswith(b"HTTP/1.1 200")
