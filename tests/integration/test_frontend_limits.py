# SPDX-License-Identifier: MIT
"""Issue 12, items 6, 7 and 10 through the shipped web server configurations:

- idle connections from one address leave the front end to everyone else, and chatai.fcgi
  caps the long-polls one address may park (fcgi_longpoll_max_per_ip, 429 past it);
- a proxied WebSocket is not closed once its client has sent server.max-request-size;
- the rate limits count a widget request only once its resource is checked, and widget GET
  and OPTIONS requests have a limit of their own (rate_limit_reads).

Clients that must count as other addresses bind their socket to another loopback address
(127.0.0.2, ...): the web server listens on 127.0.0.1 and sees them as that address."""

import concurrent.futures
import http.client
import json
import resource
import socket
import time

import pytest

import harness


class Client:
    """Plain HTTP/1.1 from a chosen source address (one connection per request)."""

    def __init__(self, url, source="127.0.0.1"):
        hostport = url.split("://", 1)[1].rstrip("/")
        host, _, port = hostport.partition(":")
        self.host, self.port, self.source = host, int(port), source

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout, source_address=(self.source, 0))
        try:
            h = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            r.body = raw
            try:
                r.json = json.loads(raw) if raw else None
            except ValueError:
                r.json = None
            return r
        finally:
            c.close()


def _same_window(seconds=15):
    """The limits count in fixed one-minute windows (floor(now / 60)): start a test that must
    stay within one window with enough of it left."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.2)


def _dialog(st, aid):
    did, vt, _ = harness.Api(st.url).create_dialog(aid)
    return did, vt


# ---- item 10: limits count after the resource is checked; reads have a limit -------------

@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    st = harness.Stack(tmp_path_factory.mktemp("limited"), notifier=False,
                       env={"CHATAI_RATE_LIMIT_DIALOGS": 3, "CHATAI_RATE_LIMIT_MESSAGES": 3,
                            "CHATAI_RATE_LIMIT_TYPING": 3, "CHATAI_RATE_LIMIT_LOGIN": 100,
                            "CHATAI_RATE_LIMIT_READS": 4})
    yield st
    st.stop()


def _codes(fn, n):
    return [fn(i).status for i in range(n)]


def test_refused_widget_requests_count_nothing(limited):
    st = limited
    _same_window()
    aid = harness.make_assistant(st.pg, "Counted")
    did, vt = _dialog(st, aid)  # from 127.0.0.1: the checks below come from 127.0.0.2
    c = Client(st.url, "127.0.0.2")
    # a dialog that does not exist, a wrong token, an assistant that does not exist
    assert set(_codes(lambda i: c.request("POST", "/api/widget/dialogs/987654321/messages", {"text": "x"},
                                          {"X-Visitor-Token": vt}), 8)) == {404}
    assert set(_codes(lambda i: c.request("POST", f"/api/widget/dialogs/{did}/messages", {"text": "x"},
                                          {"X-Visitor-Token": "W" * 43}), 8)) == {403}
    assert set(_codes(lambda i: c.request("POST", f"/api/widget/dialogs/{did}/typing", {"state": "start"},
                                          {"X-Visitor-Token": "W" * 43}), 8)) == {403}
    assert set(_codes(lambda i: c.request("POST", "/api/widget/dialogs", {"assistant_id": 987654321}), 8)) == {404}
    assert set(_codes(lambda i: c.request("GET", "/api/widget/dialogs/987654321/messages",
                                          headers={"X-Visitor-Token": vt}), 8)) == {404}
    # the real requests of this address still have their whole allowance (3 a minute; a
    # window boundary passing mid-test may allow a few more)
    codes = _codes(lambda i: c.request("POST", f"/api/widget/dialogs/{did}/messages", {"text": f"m{i}"},
                                       {"X-Visitor-Token": vt}), 5)
    assert codes[:3] == [201, 201, 201] and codes[-1] == 429, codes
    r = c.request("POST", f"/api/widget/dialogs/{did}/messages", {"text": "again"}, {"X-Visitor-Token": vt})
    assert r.status == 429 and 1 <= int(r.getheader("Retry-After")) <= 60
    assert r.json["error"]["code"] == "rate_limited"
    codes = _codes(lambda i: c.request("POST", "/api/widget/dialogs", {"assistant_id": aid}), 5)
    assert codes[:3] == [201, 201, 201] and codes[-1] == 429, codes


def test_widget_reads_have_a_limit(limited):
    st = limited
    _same_window()
    aid = harness.make_assistant(st.pg, "Reads")
    did, vt = _dialog(st, aid)
    c = Client(st.url, "127.0.0.3")
    # GET and OPTIONS (plain and preflight) share rate_limit_reads (4 here)
    rs = [c.request("GET", f"/api/widget/assistants/{aid}"),
          c.request("OPTIONS", f"/api/widget/dialogs/{did}/messages"),
          c.request("OPTIONS", f"/api/widget/dialogs/{did}/messages",
                    headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}),
          c.request("GET", f"/api/widget/dialogs/{did}/messages", headers={"X-Visitor-Token": vt}),
          c.request("GET", f"/api/widget/dialogs/{did}/messages", headers={"X-Visitor-Token": vt}),
          c.request("OPTIONS", f"/api/widget/dialogs/{did}/messages"),
          c.request("GET", f"/api/widget/assistants/{aid}")]
    codes = [r.status for r in rs]
    assert codes[0] == 200 and codes[1] == 204 and codes[-1] == 429, codes
    assert codes.count(429) >= 2 and set(codes) <= {200, 204, 429}, codes
    assert rs[-1].getheader("Retry-After")
    # another address is not affected, and operator routes are not reads
    assert Client(st.url, "127.0.0.4").request("GET", f"/api/widget/assistants/{aid}").status == 200


# ---- item 6: one address and the front end -------------------------------------------

def test_longpolls_capped_per_address(make_stack):
    st = make_stack(notifier=False, env={"CHATAI_FCGI_LONGPOLL_MAX_PER_IP": 3, "CHATAI_RATE_LIMIT_READS": 0})
    aid = harness.make_assistant(st.pg, "Parked")
    did, vt = _dialog(st, aid)
    path = f"/api/widget/dialogs/{did}/messages?after=1000&wait=6"
    h = {"X-Visitor-Token": vt}
    a = Client(st.url, "127.0.0.5")
    ex = concurrent.futures.ThreadPoolExecutor(3)
    try:
        held = [ex.submit(a.request, "GET", path, None, h) for _ in range(3)]
        time.sleep(1.5)  # the three are parked
        assert not any(f.done() for f in held)
        r = a.request("GET", path, headers=h)
        assert r.status == 429, (r.status, r.body)
        assert r.json["error"]["code"] == "rate_limited" and int(r.getheader("Retry-After")) >= 1
        # another address parks as before (and is answered when its wait ends)
        t0 = time.monotonic()
        r = Client(st.url, "127.0.0.6").request("GET", f"/api/widget/dialogs/{did}/messages?after=1000&wait=1",
                                               headers=h)
        assert r.status == 200 and r.json == [] and time.monotonic() - t0 >= 0.9
        assert [f.result(timeout=20).status for f in held] == [200, 200, 200]
        # the count goes down when they are answered
        r = a.request("GET", f"/api/widget/dialogs/{did}/messages?after=1000&wait=1", headers=h)
        assert r.status == 200
    finally:
        ex.shutdown(wait=True)


def test_idle_connections_of_one_address_leave_the_front_end_to_others(stack, assistant):
    """1,400 idle connections from 127.0.0.1 (the review's number stopped everything); a
    client at 127.0.0.2 gets static files and REST within 1 s each meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    host, port = stack.url.split("://", 1)[1].split(":")
    port = int(port)
    idle = []
    try:
        for _ in range(1400):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.bind(("127.0.0.1", 0))
            s.connect((host, port))
            idle.append(s)
        time.sleep(1.0)  # lighttpd has accepted them
        other = Client(stack.url, "127.0.0.2")
        for path in ("/widget/chatai.js", f"/api/widget/assistants/{assistant}", "/admin/"):
            t0 = time.monotonic()
            r = other.request("GET", path, timeout=5)
            took = time.monotonic() - t0
            assert r.status == 200 and took < 1.0, (path, r.status, took)
    finally:
        for s in idle:
            s.close()


# ---- item 7: a WebSocket is not a request body ----------------------------------------

def test_websocket_through_the_web_server_outlives_the_request_size_limit(stack, assistant, admin):
    """lighttpd (the default stack) scopes server.max-request-size to /api/; under Apache
    (CHATAI_TEST_SERVER=apache) no body limit may apply to a tunnel either."""
    api = harness.Api(stack.url)
    did, vt, _ = api.create_dialog(assistant)
    ping = '{"type":"ping"}' + " " * 1009  # 1 KiB a message
    with harness.WsClient(api.ws_widget_url(did, assistant, vt)) as ws:
        for i in range(220):  # 220 KiB in total, past the 128 KiB of server.max-request-size
            ws.send(ping)
            assert ws.recv_until(lambda ev: ev.get("type") == "pong", timeout=10), i
        # still open: a ping is answered and a message posted now arrives on it
        ws.send({"type": "ping"})
        assert ws.recv_until(lambda ev: ev.get("type") == "pong", timeout=10)
        r = api.operator_post(admin["token"], did, "after 220 KiB")
        assert r.status_code == 201, r.text
        got = ws.recv_until(lambda ev: ev.get("type") == "message" and ev.get("text") == "after 220 KiB")
        assert got["dialog_id"] == did


# ---- item 10: IPv6 counts per /64 --------------------------------------------------------

def test_notifier_cap_counts_ipv6_per_64(pg):
    """Behind the web server (a trusted proxy) the cap counts X-Forwarded-For's address: IPv6
    per /64, so one client cannot take a new address of its /64 for each connection."""
    from notifier_fixtures import World, sse_from

    world = World(pg)

    def sse(n, did, xff):
        return sse_from(n, did, world.token, xff)

    n = harness.Notifier(pg, env={"CHATAI_NOTIFIER_MAX_PER_IP": 2}).start()
    held = []
    try:
        did, _ = world.dialog()
        for xff in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::2", "2001:db8:1:3::1", "192.0.2.1", "192.0.2.2"):
            s, head = sse(n, did, xff)
            assert head.startswith(b"HTTP/1.1 200"), (xff, head)
            held.append(s)
        s, head = sse(n, did, "2001:db8:1:2:abcd::99")  # a third one from 2001:db8:1:2::/64
        s.close()
        assert head.startswith(b"HTTP/1.1 429"), head
        s, head = sse(n, did, "2001:db8:1:3::2")  # the other /64 has room for one more
        held.append(s)
        assert head.startswith(b"HTTP/1.1 200"), head
    finally:
        for s in held:
            s.close()
        n.stop()


def _cgi(pg, method, uri, remote, body=None, env=None):
    import subprocess
    data = json.dumps(body).encode() if body is not None else b""
    e = harness.base_env({"CHATAI_DATABASE_URL": pg.url, "CHATAI_LOG_LEVEL": "warn",
                          "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "REQUEST_URI": uri,
                          "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
                          "REMOTE_ADDR": remote, **(env or {})})
    cp = subprocess.run([str(harness.binary("chatai.fcgi"))], input=data, env=e, capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return int(cp.stdout.split(b"\r\n", 1)[0].split()[1])


def test_rest_limits_count_ipv6_per_64(pg):
    """chatai.fcgi keys its rate limits on the /64 of an IPv6 client (CGI: REMOTE_ADDR)."""
    aid = harness.make_assistant(pg, "Per 64")
    _same_window()
    lim = {"CHATAI_RATE_LIMIT_DIALOGS": 2}
    post = lambda remote: _cgi(pg, "POST", "/api/widget/dialogs", remote, {"assistant_id": aid}, lim)  # noqa: E731
    # a fresh /64 per run: the counters outlive a test session only in this database
    base = f"2001:db8:{int(time.time()) % 65536:x}"
    assert [post(f"{base}:1::1"), post(f"{base}:1:ffff::2")] == [201, 201]
    assert post(f"{base}:1:1234::3") == 429          # same /64, another address
    assert post(f"{base}:2::1") == 201               # the next /64 counts on its own
    assert post(f"::ffff:198.51.100.{int(time.time()) % 250}") == 201  # IPv4(-mapped): per address
