# SPDX-License-Identifier: MIT
"""apache-conf/balancer.conf.example for real: Apache (mod_fcgid + chatai.fcgi) in front of two
notifiers through mod_proxy_balancer. Streams spread over both notifiers; when one dies,
its clients reconnect to the same URL, land on the other one and resume with `since`
without loss or duplicate; SSE through the balancer is not buffered.
"""

import re
import socket
import threading
import time

import pytest

import harness
from redis_fixtures import WsClient, health

BALANCER = harness.REPO / "apache-conf" / "balancer.conf.example"
EXTRA_MODULES = ("proxy_balancer", "slotmem_shm", "lbmethod_bybusyness", "proxy_hcheck")


class BalancedApache(harness.WebServer):
    """harness.WebServer("apache") whose /ws/ and /sse/ go through balancer.conf to the
    given notifier ports instead of to one notifier."""

    def __init__(self, pg, notifier_ports, env=None):
        self.members = list(notifier_ports)
        super().__init__("apache", pg, self.members[0], env=env)

    def _apache_conf(self, fcgi_bin):
        argv, conf = super()._apache_conf(fcgi_bin)
        site = self.state / "chatai-site.conf"
        text = site.read_text()
        text, n = re.subn(r'^ProxyPass "/(ws|sse)/".*$', "", text, flags=re.M)
        assert n == 2, "chatai-site.conf.in no longer has the two notifier ProxyPass lines"
        bal = BALANCER.read_text()
        # The example's two members are this test's two notifiers.
        bal = bal.replace("notifier1.internal:8081", f"127.0.0.1:{self.members[0]}")
        bal = bal.replace("notifier2.internal:8081", f"127.0.0.1:{self.members[1]}")
        # Health checks every second here (5 s in the example) so that the test is quick.
        bal = bal.replace("hcinterval=5", "hcinterval=1")
        (self.state / "balancer.conf").write_text(bal)
        site.write_text(text + f'\nInclude "{self.state / "balancer.conf"}"\n')
        main = conf.read_text()
        mods = "".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"
                       for m in EXTRA_MODULES)
        main = main.replace("LoadModule proxy_http_module", mods + "LoadModule proxy_http_module", 1)
        conf.write_text(main)
        return argv, conf


@pytest.fixture(scope="module")
def bal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("balancer")
    pg = harness.Postgres(tmp / "pg").start()
    b = {"pg": pg, "notifiers": [], "web": None}
    try:
        env = {"CHATAI_RATE_LIMIT_DIALOGS": 100000, "CHATAI_RATE_LIMIT_MESSAGES": 100000}
        b["env"] = env
        b["notifiers"] = [harness.Notifier(pg, env=env).start() for _ in range(2)]
        b["web"] = BalancedApache(pg, [n.port for n in b["notifiers"]], env=env).start()
        b["api"] = api = harness.Api(b["web"].url)
        api.s.headers["Connection"] = "close"  # no idle keep-alive the server may drop
        b["assistant"] = harness.make_assistant(pg, "Balanced shop", greeting="Hi")
        harness.make_operator(pg, "bal@example.org", "bal-password-1", "Bo", "admin")
        b["token"] = api.login("bal@example.org", "bal-password-1")
        yield b
    finally:
        # Notifiers first (the current ones: a test may have replaced one): an Apache
        # thread proxying a stream whose client left notices only when the backend side
        # ends, and would hold Apache's stop for 10 s.
        for p in b["notifiers"]:
            p.stop()
        if b["web"] is not None:
            b["web"].destroy()
        pg.destroy()


def connect(url, attempts=40):
    """A WebSocket through the balancer, retrying as a browser client would (a 502/503
    while the balancer learns that a member died)."""
    last = None
    for _ in range(attempts):
        try:
            return WsClient(url)
        except (ConnectionError, OSError) as e:
            last = e
            time.sleep(0.25)
    raise AssertionError(f"no WebSocket through the balancer: {last}")


def ws_counts(b):
    return [health(n.port)["connections"]["websocket"] for n in b["notifiers"]]


def test_balancer_spreads_streams_and_survives_a_notifier(bal):
    api, token = bal["api"], bal["token"]
    d, vt, _ = api.create_dialog(bal["assistant"])
    assert api.op(token).post(f"/api/dialogs/{d}/takeover").status_code == 200
    clients = [connect(api.ws_dialog_url(d, token, since=0)) for _ in range(4)]
    moved = []
    try:
        # bybusyness: four streams, two on each notifier.
        harness.wait_until(lambda: ws_counts(bal) == [2, 2], timeout=5,
                           message="2 + 2 WebSockets on the notifiers")
        for i in range(4):
            assert api.operator_post(token, d, f"before {i}").status_code == 201
        seqs = [s for (s,) in bal["pg"].sql("SELECT seq FROM messages WHERE dialog_id = %s ORDER BY seq", d)]
        for c in clients:
            c.wait(lambda c: c.seqs() == seqs, message="messages before")

        victim = bal["notifiers"][0]
        victim.kill()
        harness.wait_until(lambda: sum(c.closed for c in clients) == 2, timeout=10,
                           message="the two streams of the dead notifier closed")
        for i in range(4):
            assert api.operator_post(token, d, f"during {i}").status_code == 201
        # Same URL as before, with the cursor: the balancer sends them to the survivor.
        for c in clients:
            if c.closed:
                moved.append((c, connect(api.ws_dialog_url(d, token, since=c.seqs()[-1]))))
        assert len(moved) == 2
        for i in range(4):
            assert api.operator_post(token, d, f"after {i}").status_code == 201
        seqs = [s for (s,) in bal["pg"].sql("SELECT seq FROM messages WHERE dialog_id = %s ORDER BY seq", d)]
        for old, new in moved:
            new.wait(lambda c: c.seqs() and c.seqs()[-1] == seqs[-1], message="resumed stream")
        for c in clients:
            if not c.closed:
                c.wait(lambda c: c.seqs() == seqs, message="surviving stream")
        time.sleep(0.3)
        for old, new in moved:
            assert old.seqs() + new.seqs() == seqs
        assert health(bal["notifiers"][1].port)["connections"]["websocket"] == 4
    finally:
        for c in clients:
            c.close()
        for _, n in moved:
            n.close()
        bal["notifiers"][0] = harness.Notifier(bal["pg"], port=bal["notifiers"][0].port,
                                               env=bal["env"]).start()


def test_sse_through_the_balancer_is_not_buffered(bal):
    api, token = bal["api"], bal["token"]
    d, vt, _ = api.create_dialog(bal["assistant"])
    assert api.op(token).post(f"/api/dialogs/{d}/takeover").status_code == 200
    # A raw socket, so that the test can end the stream at once.
    url = api.sse_dialog_url(d, token)
    hostport, path = url[len("http://"):].split("/", 1)
    sock = socket.create_connection(("127.0.0.1", int(hostport.split(":")[1])), timeout=10)
    sock.sendall(f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nAccept: text/event-stream\r\n\r\n".encode())
    got = []

    def read():
        buf = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    got.append((time.monotonic(), line.decode("utf-8", "replace").rstrip("\r")))
        except OSError:
            pass

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        harness.wait_until(lambda: got, timeout=5, message="SSE response head")
        assert got[0][1].startswith("HTTP/1.1 200"), got[0]
        assert any(line.lower().startswith("content-type: text/event-stream") for _, line in got)
        time.sleep(0.3)
        t0 = time.monotonic()
        assert api.operator_post(token, d, "through the balancer").status_code == 201
        harness.wait_until(lambda: any("through the balancer" in line for _, line in got), timeout=5,
                           message="SSE event")
        at = next(ts for ts, line in got if "through the balancer" in line)
        assert at - t0 < 1.0, f"SSE event took {at - t0:.2f}s: buffered by the proxy?"
        assert any(line.startswith("id: ") for _, line in got)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        t.join(2)
