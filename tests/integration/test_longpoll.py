# SPDX-License-Identifier: MIT
"""Long-poll of chatai.fcgi: wake-up latency, timeouts, audiences, the inbox, many waiting
requests on few database connections, and a database that goes away and comes back."""

import concurrent.futures
import statistics
import threading
import time

import pytest
import requests

import harness
pytest_plugins = ["rest_fixtures"]  # its fixtures, shared by every module of the session
from rest_fixtures import NO_LIMITS, error_of, fcgi_pids, wait_ok


def poll_in_thread(fn):
    """Run fn() in a thread; returns (thread, box) where box gets result and return time."""
    box = {}

    def run():
        try:
            box["r"] = fn()
        except Exception as e:  # reported by the caller's asserts
            box["e"] = e
        box["t"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_wakes_within_100ms_of_a_commit(env):
    d, vt, _ = env.new_dialog()
    op, w = env.op(), env.widget(vt)
    last = 1
    admin_lat, site_lat = [], []
    for i in range(6):
        # operator side, woken by a visitor message
        t, box = poll_in_thread(lambda: op.get(f"/api/dialogs/{d}/messages", params={"after": last, "wait": 10},
                                               timeout=20))
        time.sleep(0.3)                      # parked by now
        r = w.post(f"/api/widget/dialogs/{d}/messages", json={"text": f"question {i}"})
        committed = time.monotonic()         # the answer leaves after the commit
        assert r.status_code == 201
        t.join(15)
        assert "r" in box, box
        got = box["r"].json()
        assert [m["seq"] for m in got] == [r.json()["user_message"]["seq"]]
        admin_lat.append(box["t"] - committed)
        last = got[-1]["seq"]
        # widget side, woken by an operator message
        t, box = poll_in_thread(lambda: w.get(f"/api/widget/dialogs/{d}/messages",
                                              params={"after": last, "wait": 10}, timeout=20))
        time.sleep(0.3)
        r = op.post(f"/api/dialogs/{d}/messages", json={"text": f"answer {i}"})
        committed = time.monotonic()
        assert r.status_code == 201
        t.join(15)
        got = box["r"].json()
        assert got and got[-1]["id"] == r.json()["id"]
        site_lat.append(box["t"] - committed)
        last = got[-1]["seq"]
    fmt = lambda xs: ", ".join(f"{1000 * x:.1f}" for x in xs)  # noqa: E731
    print(f"\nlong-poll wake-up after commit (ms): admin [{fmt(admin_lat)}] site [{fmt(site_lat)}]")
    print(f"median admin {1000 * statistics.median(admin_lat):.1f} ms, site {1000 * statistics.median(site_lat):.1f} ms")
    assert statistics.median(admin_lat) < 0.1 and statistics.median(site_lat) < 0.1
    assert max(admin_lat + site_lat) < 0.5


def test_empty_when_the_wait_ends(env):
    d, vt, _ = env.new_dialog()
    t0 = time.monotonic()
    r = env.op().get(f"/api/dialogs/{d}/messages", params={"after": 1, "wait": 1}, timeout=10)
    took = time.monotonic() - t0
    assert r.status_code == 200 and r.json() == []
    assert 0.95 < took < 2.5, took
    # nothing new needed: news already there is answered at once
    t0 = time.monotonic()
    r = env.op().get(f"/api/dialogs/{d}/messages", params={"after": 0, "wait": 5}, timeout=10)
    assert [m["seq"] for m in r.json()] == [1] and time.monotonic() - t0 < 0.5
    assert error_of(env.op().get(f"/api/dialogs/{d}/messages", params={"wait": "-1"})) == \
        (400, "validation_failed", "wait")
    assert error_of(env.op().get("/api/dialogs/999999999/messages", params={"after": 0, "wait": 1})) == \
        (404, "not_found", None)


def test_site_long_poll_ignores_the_visitors_own_messages(env):
    d, vt, _ = env.new_dialog()
    w = env.widget(vt)
    t, box = poll_in_thread(lambda: w.get(f"/api/widget/dialogs/{d}/messages", params={"after": 1, "wait": 2},
                                          timeout=10))
    time.sleep(0.3)
    assert w.post(f"/api/widget/dialogs/{d}/messages", json={"text": "mine"}).status_code == 201
    t.join(10)
    assert box["r"].json() == []         # the site audience has no visitor messages
    assert box["t"] - time.monotonic() < 0
    # an operator message does wake it, and the answer skips the visitor's own
    t, box = poll_in_thread(lambda: w.get(f"/api/widget/dialogs/{d}/messages", params={"after": 1, "wait": 10},
                                          timeout=20))
    time.sleep(0.3)
    env.op().post(f"/api/dialogs/{d}/messages", json={"text": "hello visitor"})
    t.join(15)
    got = box["r"].json()
    assert [m["sender"] for m in got] == ["system", "manager"]   # operator_joined, then the reply
    assert [m["seq"] for m in got] == [3, 4]


def test_inbox_long_poll(env):
    op = env.op()
    cur = op.get("/api/inbox").json()["cursor"]
    t, box = poll_in_thread(lambda: op.get("/api/inbox", params={"cursor": cur, "wait": 10}, timeout=20))
    time.sleep(0.3)
    d, vt, _ = env.new_dialog(env.silent)
    made = time.monotonic()
    t.join(15)
    j = box["r"].json()
    print(f"\ninbox long-poll woke {1000 * (box['t'] - made):.1f} ms after the dialog was created")
    assert any(e["type"] == "dialog_created" and e["dialog"]["id"] == d for e in j["events"])
    assert box["t"] - made < 0.5
    # a timed-out inbox poll keeps a usable cursor
    r = op.get("/api/inbox", params={"cursor": j["cursor"], "wait": 1}, timeout=10).json()
    assert r["events"] == [] and r["cursor"]


def test_a_message_wakes_its_dialog_and_the_inbox_not_other_dialogs(env):
    """The dispatcher looks a notification up by dialog: a message in A wakes the
    requests waiting on A and the inbox's, and leaves B's waiting until B has news."""
    a, avt, _ = env.new_dialog(env.silent)
    b, _, _ = env.new_dialog(env.silent)
    op = env.op()
    cur = op.get("/api/inbox").json()["cursor"]
    last = {d: max([m["seq"] for m in op.get(f"/api/dialogs/{d}/messages").json()], default=0) for d in (a, b)}
    polls = {name: poll_in_thread(fn) for name, fn in (
        ("a", lambda: op.get(f"/api/dialogs/{a}/messages", params={"after": last[a], "wait": 10}, timeout=20)),
        ("a2", lambda: op.get(f"/api/dialogs/{a}/messages", params={"after": last[a], "wait": 10}, timeout=20)),
        ("b", lambda: op.get(f"/api/dialogs/{b}/messages", params={"after": last[b], "wait": 10}, timeout=20)),
        ("inbox", lambda: op.get("/api/inbox", params={"cursor": cur, "wait": 10}, timeout=20)))}
    time.sleep(0.5)                          # all four parked
    r = env.widget(avt).post(f"/api/widget/dialogs/{a}/messages", json={"text": "for A only"})
    assert r.status_code == 201
    posted = time.monotonic()
    for name in ("a", "a2", "inbox"):
        polls[name][0].join(5)
        assert "r" in polls[name][1], (name, polls[name][1])
        assert polls[name][1]["t"] - posted < 0.5, name
    for name in ("a", "a2"):
        assert [m["text"] for m in polls[name][1]["r"].json()] == ["for A only"]
    assert any(e.get("dialog_id") == a or e.get("dialog", {}).get("id") == a
               for e in polls["inbox"][1]["r"].json()["events"])
    time.sleep(0.5)
    assert polls["b"][0].is_alive()          # B's request still waits
    r = op.post(f"/api/dialogs/{b}/messages", json={"text": "now B"})
    assert r.status_code == 201
    posted = time.monotonic()
    polls["b"][0].join(5)
    assert polls["b"][1]["t"] - posted < 0.5
    assert polls["b"][1]["r"].json()[-1]["text"] == "now B"


def test_wait_is_capped(private_stack):
    st = private_stack(env={**NO_LIMITS, "CHATAI_LONGPOLL_MAX_WAIT": 1})
    api = harness.Api(st.url)
    aid = harness.make_assistant(st.pg, "Cap")
    d, vt, _ = api.create_dialog(aid)
    t0 = time.monotonic()
    r = api.visitor_messages(d, vt, after=5, wait=3600)
    assert r.status_code == 200 and r.json() == []
    assert time.monotonic() - t0 < 3


def db_connections(pg):
    return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'chatai' AND pid <> pg_backend_pid()")[0][0]


def test_200_waiting_long_polls_few_connections(tmp_path):
    threads = 32                            # the default
    # its own PostgreSQL, so that pg_stat_activity shows this stack's links only
    st = harness.Stack(tmp_path / "many", notifier=False, env={**NO_LIMITS, "CHATAI_FCGI_THREADS": threads})
    try:
        _many_long_polls(st, threads)
    finally:
        st.stop()


def _many_long_polls(st, threads):
    api = harness.Api(st.url)
    aid = harness.make_assistant(st.pg, "Many")
    email = f"many-{time.time_ns()}@test.example"
    harness.make_operator(st.pg, email, "many-pw-123", "Mo", "operator")
    tok = api.login(email, "many-pw-123")
    dialogs = [api.create_dialog(aid) for _ in range(10)]
    results, done = {}, {}

    def poll(i):
        d, vt, _ = dialogs[i % 10]
        r = requests.get(f"{st.url}/api/widget/dialogs/{d}/messages", params={"after": 0, "wait": 25},
                         headers={"X-Visitor-Token": vt}, timeout=40)
        results[i] = r
        done[i] = time.monotonic()

    ex = concurrent.futures.ThreadPoolExecutor(200)
    futs = [ex.submit(poll, i) for i in range(200)]
    try:
        time.sleep(3)                        # every poll is parked by now
        assert not results, f"{len(results)} long-polls answered early"
        # ordinary requests keep answering while 200 wait
        op = api.op(tok)
        lat = []
        for _ in range(20):
            t0 = time.monotonic()
            assert op.get("/api/dialogs", params={"limit": 5}).status_code == 200
            lat.append(time.monotonic() - t0)
        conns = db_connections(st.pg)
        procs = len(fcgi_pids(st.web))
        assert procs >= 1
        print(f"\n200 parked long-polls: {procs} chatai.fcgi processes x {threads} threads, "
              f"{conns} database connections; REST calls meanwhile: median {1000 * statistics.median(lat):.1f} ms,"
              f" max {1000 * max(lat):.1f} ms")
        assert max(lat) < 1.0
        assert conns <= procs * (threads + 3)
        assert conns < 60                    # 200 waiting requests, far fewer links
        # one message per dialog wakes every poll, each with its dialog's message
        t0 = time.monotonic()
        for d, vt, _ in dialogs:
            assert op.post(f"/api/dialogs/{d}/messages", json={"text": "wake up"}).status_code == 201
        for f in futs:
            f.result(timeout=30)
        spread = max(done.values()) - t0
        print(f"all 200 answered {1000 * spread:.0f} ms after the first post")
        assert spread < 5
        for i, r in results.items():
            got = r.json()
            assert r.status_code == 200 and [m["sender"] for m in got] == ["system", "manager"], (i, got)
            assert got[0]["dialog_id"] == dialogs[i % 10][0]
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def test_database_lost_and_back(tmp_path):
    st = harness.Stack(tmp_path / "lost", notifier=False, env=NO_LIMITS)
    try:
        api = harness.Api(st.url)
        aid = harness.make_assistant(st.pg, "Phoenix", greeting="hi")
        harness.make_operator(st.pg, "phoenix@test.example", "phoenix-pw-1", "Pho", "admin")
        tok = api.login("phoenix@test.example", "phoenix-pw-1")
        op = api.op(tok)
        d, vt, _ = api.create_dialog(aid)
        # every process and thread has served something and holds a link
        for _ in range(40):
            assert op.get("/api/me").status_code == 200
        pids = fcgi_pids(st.web)
        assert pids

        st.pg.stop("fast")
        down = []
        for path, kw in (("/api/me", {}), (f"/api/dialogs/{d}/messages", {}),
                         (f"/api/widget/dialogs/{d}/messages", {"headers": {"X-Visitor-Token": vt}})):
            for _ in range(5):
                t0 = time.monotonic()
                r = requests.get(st.url + path, timeout=10, headers={"Authorization": f"Bearer {tok}",
                                                                     **kw.get("headers", {})})
                down.append(time.monotonic() - t0)
                assert error_of(r) == (503, "unavailable", None), (path, r.text)
        r = requests.post(st.url + "/api/auth/login", json={"email": "phoenix@test.example",
                                                            "password": "phoenix-pw-1"}, timeout=10)
        assert error_of(r) == (503, "unavailable", None)
        r = op.post(f"/api/dialogs/{d}/messages", json={"text": "while down"})
        assert error_of(r) == (503, "unavailable", None)
        print(f"\nwhile the database is down: 503 in at most {1000 * max(down):.1f} ms")
        assert max(down) < 2.0

        st.pg.start()
        t0 = time.monotonic()
        wait_ok(lambda: op.get("/api/me"), timeout=20, what="service after the restart")
        print(f"service back {1000 * (time.monotonic() - t0):.0f} ms after PostgreSQL restarted")
        # every thread recovers: no 503 left
        codes = [op.get("/api/me").status_code for _ in range(40)]
        assert codes == [200] * 40, codes
        r = op.post(f"/api/dialogs/{d}/messages", json={"text": "after the restart"})
        assert r.status_code == 201
        # long-polls work again (the LISTEN link came back too)
        seq = r.json()["seq"]
        t, box = poll_in_thread(lambda: op.get(f"/api/dialogs/{d}/messages", params={"after": seq, "wait": 10},
                                               timeout=20))
        time.sleep(1.0)
        r = requests.post(f"{st.url}/api/widget/dialogs/{d}/messages", json={"text": "visitor back"},
                          headers={"X-Visitor-Token": vt}, timeout=10)
        committed = time.monotonic()
        t.join(15)
        assert [m["text"] for m in box["r"].json()] == ["visitor back"]
        # woken by the notification (a timeout would take 10 s); the completion thread may
        # first have to reconnect its own link, which is slow on a loaded machine
        print(f"first long-poll after the restart woke {1000 * (box['t'] - committed):.0f} ms after the commit")
        assert box["t"] - committed < 3
        assert fcgi_pids(st.web) == pids      # nothing was restarted
    finally:
        st.stop()


def fcgi_request(port, params, stdin=b""):
    """Send one FastCGI responder request (as a web server does) on a new connection;
    returns the socket, the response not read yet."""
    import socket
    import struct

    def record(rtype, content):
        return struct.pack(">BBHHBB", 1, rtype, 1, len(content), 0, 0) + content

    def nv(k, v):
        k, v = k.encode(), v.encode()
        enc = lambda n: bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)  # noqa: E731
        return enc(len(k)) + enc(len(v)) + k + v

    s = socket.create_connection(("127.0.0.1", port))
    body = b"".join(nv(k, v) for k, v in params.items())
    chunks = [stdin[i:i + 65535] for i in range(0, len(stdin), 65535)]
    s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, body) + record(4, b"") +
              b"".join(record(5, c) for c in chunks) + record(5, b""))
    return s


def fcgi_read_all(s):
    """The stdout of a FastCGI response, read until FCGI_END_REQUEST."""
    import struct
    out, buf = b"", b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            if rtype == 6:
                out += buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if rtype == 3:
                return out
    return out


@pytest.fixture
def pool(env):
    """A `chatai.fcgi --listen --threads 4` pool on the shared database, spoken to directly."""
    p = harness.FcgiPool(env.pg, threads=4, env={**NO_LIMITS, "CHATAI_LOG_LEVEL": "debug"}).start()
    yield p
    p.stop()


def test_client_that_leaves_frees_its_long_poll(env, pool):
    """A web server that gives up on a request (its client left) closes the FastCGI link:
    the worker drops the parked request at once instead of holding the socket until the
    deadline. (lighttpd 1.4 keeps the link until the answer, which then comes at the
    deadline.) Talks FastCGI directly to a --listen pool, as a web server does."""
    d, vt, _ = env.new_dialog()
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": f"/api/widget/dialogs/{d}/messages?after=1&wait=1",
              "HTTP_X_VISITOR_TOKEN": vt, "REMOTE_ADDR": "192.0.2.1", "CONTENT_LENGTH": "0"}
    t0 = time.monotonic()
    out = fcgi_read_all(fcgi_request(pool.port, params))
    assert out.startswith(b"Status: 200 OK") and out.endswith(b"\r\n\r\n[]"), out
    assert 0.9 < time.monotonic() - t0 < 3
    params["REQUEST_URI"] = f"/api/widget/dialogs/{d}/messages?after=1&wait=25"
    socks = [fcgi_request(pool.port, params) for _ in range(5)]
    time.sleep(0.5)
    for s in socks:
        s.close()
    harness.wait_until(lambda: pool.log().count("client gone") >= 5, timeout=5,
                       message="the parked requests to be dropped")
    # the pool still serves, and a new poll still wakes
    params["REQUEST_URI"] = f"/api/widget/dialogs/{d}/messages?after=1&wait=10"
    s = fcgi_request(pool.port, params)
    time.sleep(0.3)
    env.op().post(f"/api/dialogs/{d}/messages", json={"text": "still here"})
    out = fcgi_read_all(s)
    assert out.startswith(b"Status: 200 OK") and b"still here" in out, out


def test_fastcgi_body_without_content_length(env, pool):
    d, vt, _ = env.new_dialog()
    # a body without CONTENT_LENGTH (a server streaming a chunked request): read to the
    # end of FastCGI stdin, and still refused past 64 KiB
    post = {"REQUEST_METHOD": "POST", "REQUEST_URI": f"/api/widget/dialogs/{d}/messages",
            "HTTP_X_VISITOR_TOKEN": vt, "REMOTE_ADDR": "192.0.2.1", "CONTENT_TYPE": "application/json"}
    out = fcgi_read_all(fcgi_request(pool.port, post, b'{"text": "no length"}'))
    assert out.startswith(b"Status: 201 Created") and b"no length" in out, out
    big = b'{"text": "' + b"x" * 40000 + b'", "pad": "' + b"y" * 30000 + b'"}'
    assert len(big) > 64 * 1024
    out = fcgi_read_all(fcgi_request(pool.port, post, big))
    assert out.startswith(b"Status: 413"), out


def test_light_load_opens_few_links(tmp_path):
    """Worker threads take turns (the last idle one accepts next): 200 requests one after
    the other open a couple of links per process, not one per thread (32 by default)."""
    st = harness.Stack(tmp_path / "links", notifier=False, env=NO_LIMITS)
    try:
        api = harness.Api(st.url)
        harness.make_operator(st.pg, "links@test.example", "links-pw-1", "Lin", "operator")
        op = api.op(api.login("links@test.example", "links-pw-1"))
        for _ in range(200):
            assert op.get("/api/me").status_code == 200
        procs = len(fcgi_pids(st.web))
        seq = db_connections(st.pg)
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            assert set(ex.map(lambda i: op.get("/api/me").status_code, range(400))) == {200}
        conc = db_connections(st.pg)
        print(f"\n{procs} processes x 32 threads: {seq} database links after 200 sequential requests, "
              f"{conc} after 400 from 8 clients at once")
        assert seq <= procs * 3          # LISTEN link + one or two workers each
        assert conc <= procs * 3 + 8 + 4
    finally:
        st.stop()
