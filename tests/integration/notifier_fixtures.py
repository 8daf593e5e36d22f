# SPDX-License-Identifier: MIT
"""Clients and fixtures for the notifier's integration tests.

WsClient speaks WebSocket over a raw socket with python3-wsproto (the Debian
python3-websockets 10 has no synchronous client), and can also send raw bytes so that
the conformance tests can put malformed frames on the wire. SseClient reads a
text/event-stream over a raw socket. Seeding helpers create operators' sessions and
dialogs directly in SQL so the notifier can be tested without the REST workers; the
end-to-end tests use the harness stack and the REST API.
"""

import hashlib
import json
import os
import secrets
import socket
import struct
import time

import wsproto
from wsproto.connection import ConnectionState
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                            RejectConnection, RejectData, Request, TextMessage)

import harness


def new_token():
    return secrets.token_urlsafe(32)[:43]


def token_hash(tok):
    return hashlib.sha256(tok.encode()).hexdigest()


def make_session(pg, operator_id, expires="1 hour", revoked=False):
    """A bearer token for operator_id: (token, session_id)."""
    tok = new_token()
    sid = pg.sql("INSERT INTO sessions (operator_id, token_hash, expires_at, revoked_at) "
                 "VALUES (%s, %s, now() + %s::interval, CASE WHEN %s THEN now() END) RETURNING id",
                 operator_id, token_hash(tok), expires, revoked)[0][0]
    return tok, sid


def make_dialog(pg, assistant_id):
    """A dialog without REST: (dialog_id, visitor_token)."""
    vt = new_token()
    did = pg.sql("INSERT INTO dialogs (assistant_id, visitor_token_hash) VALUES (%s, %s) RETURNING id",
                 assistant_id, token_hash(vt))[0][0]
    return did, vt


def post(pg, dialog_id, sender, text, client_id=None):
    """Store a message the one sanctioned way; returns its JSON."""
    return pg.sql("SELECT message FROM chatai_post_message(%s, %s, %s, %s)",
                  dialog_id, sender, text, client_id)[0][0]


def post_many(pg, dialog_id, sender, texts):
    """Store several messages, one transaction each, on one connection (fast)."""
    conn = pg.connect()
    try:
        cur = conn.cursor()
        out = []
        for t in texts:
            cur.execute("SELECT message FROM chatai_post_message(%s, %s, %s)", (dialog_id, sender, t))
            out.append(cur.fetchone()[0])
        return out
    finally:
        conn.close()


class WsClosed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


def connect(url, scheme, timeout):
    """A socket connected to url's host and port (url must start with scheme://), with
    timeout; returns (socket, "host:port", the path after the first slash)."""
    assert url.startswith(scheme + "://")
    hostport, _, path = url[len(scheme) + 3:].partition("/")
    host, _, port = hostport.partition(":")
    sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
    sock.settimeout(timeout)
    return sock, hostport, path


def read_to_eof(sock):
    """All that sock receives until the peer closes (the socket's timeout applies)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def drain(sock):
    """What sock receives until the peer closes, the connection fails or the socket's timeout
    passes: (data, True when the peer closed it)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionError):
            return data, False
        if not chunk:
            return data, True
        data += chunk


class WsClient:
    """A WebSocket client over a raw socket (wsproto)."""

    def __init__(self, url, origin=None, timeout=10.0, headers=()):
        self.sock, hostport, path = connect(url, "ws", timeout)
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        extra = list(headers)
        if origin:
            extra.append((b"Origin", origin.encode()))
        self.sock.sendall(self.ws.send(Request(host=hostport, target="/" + path, extra_headers=extra)))
        self.events = []
        self.close_code = None
        self.close_reason = None
        self.accepted = False
        self.status = None
        while not self.accepted:
            self._pump()
            for ev in list(self.events):
                if isinstance(ev, AcceptConnection):
                    self.accepted = True
                    self.events.remove(ev)
                elif isinstance(ev, RejectConnection):
                    self.status = ev.status_code
                    raise ConnectionRefusedError(f"HTTP {ev.status_code}")
                elif isinstance(ev, RejectData):
                    self.events.remove(ev)

    def _pump(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            self.ws.receive_data(None)
        else:
            self.ws.receive_data(data)
        for ev in self.ws.events():
            if isinstance(ev, Ping):
                self.sock.sendall(self.ws.send(ev.response()))
            self.events.append(ev)
        return data

    def send_text(self, text):
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_event(self, timeout=5.0):
        """Next wsproto event (TextMessage, CloseConnection, Pong, ...)."""
        deadline = time.monotonic() + timeout
        while not self.events:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no event")
            try:
                data = self._pump(left)
            except socket.timeout:
                raise TimeoutError("no event")
            if not data and not self.events:
                raise ConnectionResetError("socket closed without a close frame")
        return self.events.pop(0)

    def recv(self, timeout=5.0):
        """Next text message as a parsed JSON object; WsClosed on a close frame."""
        text = ""
        while True:
            ev = self.recv_event(timeout)
            if isinstance(ev, TextMessage):
                text += ev.data
                if ev.message_finished:
                    return json.loads(text)
            elif isinstance(ev, CloseConnection):
                self.close_code, self.close_reason = ev.code, ev.reason
                try:
                    if self.ws.state != ConnectionState.CLOSED:
                        self.sock.sendall(self.ws.send(ev.response()))
                except Exception:
                    pass
                raise WsClosed(ev.code, ev.reason)

    def recv_messages(self, n, timeout=10.0, types=("message",)):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            ev = self.recv(max(0.01, deadline - time.monotonic()))
            if ev.get("type") in types:
                out.append(ev)
        return out

    def expect_close(self, timeout=5.0):
        """Read until the close frame; returns its code."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv(max(0.01, deadline - time.monotonic()))
            except WsClosed as e:
                return e.code

    def expect_silence(self, seconds=0.5):
        """Assert that no text message arrives for a while."""
        try:
            ev = self.recv(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {ev}")

    def wait_tcp_close(self, timeout=5.0):
        """True when the server closed the TCP connection within timeout."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionError:
                return True
            if not data:
                return True
        return False

    def close(self, code=1000):
        try:
            if self.ws.state == ConnectionState.OPEN:
                self.sock.sendall(self.ws.send(CloseConnection(code=code)))
        except Exception:
            pass
        try:
            self.sock.close()
        except Exception:
            pass


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """A raw client frame (for malformed-frame tests)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if mask:
        key = os.urandom(4)
        body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return hdr + key + body
    return hdr + payload


class SseClient:
    """A text/event-stream reader over a raw socket."""

    def __init__(self, url, headers=None, timeout=10.0):
        self.sock, hostport, path = connect(url, "http", timeout)
        lines = [f"GET /{path} HTTP/1.1", f"Host: {hostport}", "Accept: text/event-stream"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.eof = False
        head = self._read_until(b"\r\n\r\n")
        status_line, *hdrs = head.decode().split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for h in hdrs:
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n and not self.eof:
                self._fill()
            self.body = self.buf[:n].decode()
        self.retry = None
        self.last_id = None

    def _fill(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        self.buf += data

    def _read_until(self, sep, timeout=10.0):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            if self.eof:
                raise ConnectionResetError("stream ended")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing")
            try:
                self._fill(left)
            except socket.timeout:
                raise TimeoutError("nothing")
        out, _, self.buf = self.buf.partition(sep)
        return out

    def next_block(self, timeout=5.0):
        """The next raw event block (lines), comments included."""
        return self._read_until(b"\n\n", timeout).decode().split("\n")

    def next_event(self, timeout=5.0, skip_comments=True):
        """Next event as (id or None, parsed data); None for a block without data."""
        deadline = time.monotonic() + timeout
        while True:
            block = self.next_block(max(0.01, deadline - time.monotonic()))
            eid, data = None, []
            for line in block:
                if line.startswith("id: "):
                    eid = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line.startswith("retry: "):
                    self.retry = int(line[7:])
            if eid is not None:
                self.last_id = eid
            if data:
                return eid, json.loads("\n".join(data))
            if not skip_comments:
                return None, block

    def messages(self, n, timeout=10.0, types=("message",)):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            eid, ev = self.next_event(max(0.01, deadline - time.monotonic()))
            if ev.get("type") in types:
                out.append((eid, ev))
        return out

    def ended(self, timeout=5.0):
        """True when the server ends the stream within timeout (what is left is drained)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._fill(0.2)
            except socket.timeout:
                continue
            except ConnectionError:
                return True
            if self.eof:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except Exception:
            pass


class World:
    """One assistant, one operator with a session, helpers to make dialogs."""

    def __init__(self, pg, allowed_origins=()):
        self.pg = pg
        self.assistant = harness.make_assistant(pg, "Notifier test " + new_token()[:6],
                                                allowed_origins=allowed_origins)
        email = f"op-{new_token()[:10].lower()}@test.example"
        self.operator = harness.make_operator(pg, email, "operator-password-1", "Olga", "operator")
        self.token, self.session = make_session(pg, self.operator)

    def dialog(self):
        return make_dialog(self.pg, self.assistant)


def _stream_url(base, path, since):
    return base + path + (f"&since={since}" if since is not None else "")


def ws_admin_url(n, did, token, since=None):
    return _stream_url(n.ws_url, f"/ws/dialogs/{did}?token={token}", since)


def ws_site_url(n, did, aid, vt, since=None):
    return _stream_url(n.ws_url, f"/ws/widget/dialogs/{did}?assistant_id={aid}&visitor_token={vt}", since)


def sse_admin_url(n, did, token, since=None):
    return _stream_url(n.url, f"/sse/dialogs/{did}?token={token}", since)


def sse_site_url(n, did, aid, vt, since=None):
    return _stream_url(n.url, f"/sse/widget/dialogs/{did}?assistant_id={aid}&visitor_token={vt}", since)


def sse_from(n, did, token, xff):
    """An operator's SSE request to notifier n as a proxy sends it, for the client address
    xff (X-Forwarded-For); returns (the socket, the first bytes of the answer)."""
    s = socket.create_connection(("127.0.0.1", n.port))
    s.settimeout(5)
    s.sendall((f"GET /sse/dialogs/{did}?token={token} HTTP/1.1\r\nHost: x\r\n"
               f"X-Forwarded-For: {xff}\r\n\r\n").encode())
    return s, s.recv(200)


def metrics_of(n):
    """Notifier n's /metrics as {series: value}."""
    import requests
    out = {}
    for line in requests.get(n.url + "/metrics", timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def wait_subscribed(n, transport, count, timeout=5):
    key = f'chatai_notifier_connections{{transport="{transport}"}}'
    harness.wait_until(lambda: metrics_of(n).get(key, 0) >= count, timeout=timeout,
                       message=f"{count} {transport} connections")
