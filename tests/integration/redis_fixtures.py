# SPDX-License-Identifier: MIT
"""Helpers of the Redis / scale-out tests and of bench/scaleout: a throwaway redis-server,
a minimal RESP client (no Python redis package needed), a small threaded WebSocket
client that records every event, and the notifier's /health.

Everything listens on 127.0.0.1, on free ports, and is stopped by pid (harness.Process).
"""

import base64
import json
import os
import shutil
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import harness


# ---------------------------------------------------------------------------------------
# redis-server


def have_redis():
    return shutil.which("redis-server") is not None


class RedisServer(harness.Process):
    """redis-server on 127.0.0.1:port (free port by default), no persistence. restart()
    keeps the port, so clients configured with .url find it again."""

    def __init__(self, tmpdir, port=None):
        self.port = port or harness.free_port()
        self.dir = Path(tmpdir) / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", self.port, "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no"]
        super().__init__(argv, env=dict(os.environ), name="redis-server",
                         log_path=self.dir / "redis.log")

    def start(self):
        super().start()
        self.wait_port(self.port)
        # Listening is not ready: wait for PING.
        harness.wait_until(lambda: self._ping(), timeout=10, message="redis PING")
        return self

    def _ping(self):
        try:
            return Resp(self.port).cmd("PING") == "PONG"
        except OSError:
            return False

    def restart(self):
        self.stop()
        return self.start()

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cmd(self, *args, db=0):
        r = Resp(self.port)
        try:
            if db:
                r.cmd("SELECT", db)
            return r.cmd(*args)
        finally:
            r.close()


class RespError(Exception):
    pass


class Resp:
    """A minimal blocking RESP2 client: cmd() returns str / int / list / None, or raises
    RespError for an error reply. read() reads one pushed reply (pub/sub)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RespError(f"bad reply {line!r}")


class RedisMonitor:
    """SUBSCRIBE to a channel in a thread; .payloads lists what was published there."""

    def __init__(self, port, channel="chatai:ephemeral"):
        self.r = Resp(port, timeout=None)
        self.r.cmd("SUBSCRIBE", channel)
        self.payloads = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            while True:
                m = self.r.read()
                if isinstance(m, list) and m and m[0] == "message":
                    with self.lock:
                        self.payloads.append(json.loads(m[2]))
        except (OSError, ConnectionError, ValueError):
            pass

    def typing(self, dialog_id=None):
        with self.lock:
            return [p for p in self.payloads
                    if p.get("k") == "typing" and (dialog_id is None or p.get("dialog_id") == dialog_id)]

    def close(self):
        try:
            self.r.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.r.close()


# ---------------------------------------------------------------------------------------
# WebSocket client (RFC 6455, client side: masked frames out, text/ping/close in)


class WsClient:
    """Connects to ws_url, records every JSON event in .events (with the arrival time in
    .times), answers pings, sets .closed (and .close_code) when the stream ends."""

    def __init__(self, ws_url, timeout=10.0, origin=None):
        assert ws_url.startswith("ws://")
        rest = ws_url[len("ws://"):]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.url = ws_url
        self.sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            req += f"Origin: {origin}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"{ws_url}: closed during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status + " ":
            raise ConnectionError(f"{ws_url}: {status}")
        self.sock.settimeout(None)
        self.events = []
        self.times = []
        self.closed = False
        self.close_code = None
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _recv(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("eof")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.sendall(head + mask + body)
        except OSError:
            pass

    def send_json(self, obj):
        self._send(0x1, json.dumps(obj).encode())

    def _run(self):
        frags = b""
        try:
            while True:
                b0, b1 = self._recv(2)
                op, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._recv(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._recv(8))[0]
                payload = self._recv(n)
                if op == 0x9:
                    self._send(0xA, payload)
                elif op == 0x8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self._send(0x8, payload[:2])
                    break
                elif op in (0x1, 0x0):
                    frags += payload
                    if b0 & 0x80:
                        ev = json.loads(frags.decode())
                        frags = b""
                        with self.lock:
                            self.events.append(ev)
                            self.times.append(time.monotonic())
        except (OSError, ConnectionError, ValueError, struct.error):
            pass
        finally:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def close(self):
        if not self.closed:
            self._send(0x8, struct.pack("!H", 1000))
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.t.join(2)

    # -- views

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def messages(self):
        return [e for e in self.snapshot() if e.get("type") == "message"]

    def seqs(self):
        return [e["seq"] for e in self.messages()]

    def typing(self, dialog_id=None):
        return [e for e in self.snapshot() if e.get("type", "").startswith("typing_")
                and (dialog_id is None or e.get("dialog_id") == dialog_id)]

    def wait(self, predicate, timeout=10.0, message="events"):
        return harness.wait_until(lambda: predicate(self), timeout=timeout,
                                  message=f"{message} on {self.url.split('?')[0]}")


# ---------------------------------------------------------------------------------------
# notifier /health


def health(notifier_port, timeout=3.0):
    """The notifier's /health JSON (also when it answers 503: degraded)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{notifier_port}/health", timeout=timeout) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return json.loads(e.read().decode())
