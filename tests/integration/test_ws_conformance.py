# SPDX-License-Identifier: MIT
"""RFC 6455 conformance of the notifier's WebSocket, modelled on Autobahn|Testsuite
sections 1-7 (framing, ping/pong, reserved bits, opcodes, fragmentation, UTF-8, close).

The notifier does not echo, so "the message was accepted and understood" is shown by
sending {"type":"ping"} in the frames under test and getting {"type":"pong"} back, and
"accepted and ignored" (binary, unsolicited pong) by a following ping/pong round trip.
Malformed frames are written raw to the socket; the expected answer is a close frame
with the listed code followed by the server closing the TCP connection.
"""

import json
import struct

import pytest

import harness
from notifier_fixtures import World, WsClient, frame, ws_admin_url
from wsproto.events import Pong

# A missing chatai-notifier is an error, not a skip: harness.binary() raises naming the file
# and the make target that builds it.

PING = json.dumps({"type": "ping"}).encode()


@pytest.fixture(scope="module")
def notifier(pg):
    n = harness.Notifier(pg, env={"CHATAI_LOG_LEVEL": "info"}).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def url(notifier, pg):
    w = World(pg)
    did, _ = w.dialog()
    return ws_admin_url(notifier, did, w.token)


def roundtrip(c):
    c.send_raw(frame(0x1, PING))
    assert c.recv(5) == {"type": "pong"}


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


# (id, frames, expected close code or None when the connection must stay open)
CASES = [
    # 1. framing
    ("1.1.1 empty text", [frame(0x1, b"")], None),
    ("1.1.2 text 125", [frame(0x1, b"*" * 125)], None),
    ("1.1.3 text 126", [frame(0x1, b"*" * 126)], None),
    ("1.1.4 text 65535", [frame(0x1, b"*" * 65535)], None),
    ("1.1.5 text 65536", [frame(0x1, b"*" * 65536)], None),
    ("1.2.1 binary 0", [frame(0x2, b"")], None),
    ("1.2.4 binary 65535", [frame(0x2, b"\xfe" * 65535)], None),
    ("1.x unmasked text", [frame(0x1, b"hi", mask=False)], 1002),
    ("1.x frame over 64 KiB", [frame(0x2, b"x" * 65537)], 1009),
    ("1.x frame header over 64 KiB only", [frame(0x2, b"", length=1 << 20)[:14]], 1009),
    # 2. ping / pong
    ("2.1 ping empty", [frame(0x9, b"")], "pong:"),
    ("2.2 ping text payload", [frame(0x9, b"Hello, world!")], "pong:Hello, world!"),
    ("2.3 ping binary payload", [frame(0x9, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")], "pong-bin"),
    ("2.4 ping 125", [frame(0x9, b"\xfe" * 125)], "pong-125"),
    ("2.5 ping 126", [frame(0x9, b"\xfe" * 126)], 1002),
    ("2.6 unsolicited pong", [frame(0xA, b"unsolicited")], None),
    ("2.7 unsolicited pong then ping", [frame(0xA, b""), frame(0x9, b"p")], "pong:p"),
    # RFC 6455 5.5.3: pings not answered yet may get one pong, for the most recent one.
    ("2.9 ten pings", [frame(0x9, str(k).encode()) for k in range(10)], "pong-last:9"),
    ("2.x fragmented ping", [frame(0x9, b"a", fin=False)], 1002),
    # 3. reserved bits
    ("3.1 rsv1 text", [frame(0x1, b"x", rsv=1)], 1002),
    ("3.2 rsv2 text", [frame(0x1, b"x", rsv=2)], 1002),
    ("3.3 rsv3 text after valid", [frame(0x1, PING), frame(0x1, b"x", rsv=4)], 1002),
    ("3.5 rsv5 binary", [frame(0x2, b"x", rsv=5)], 1002),
    ("3.6 rsv6 ping", [frame(0x9, b"x", rsv=6)], 1002),
    ("3.7 rsv7 close", [frame(0x8, close_payload(1000), rsv=7)], 1002),
    # 4. opcodes
    *[(f"4.1 reserved data opcode {op}", [frame(op, b"")], 1002) for op in (3, 4, 5, 6, 7)],
    *[(f"4.2 reserved control opcode {op}", [frame(op, b"")], 1002) for op in (11, 12, 13, 14, 15)],
    # 5. fragmentation
    ("5.1 continuation without start", [frame(0x0, b"x")], 1002),
    ("5.3 fragmented text message", [frame(0x1, PING[:5], fin=False), frame(0x0, PING[5:])], "msg-pong"),
    ("5.5 one byte per fragment", [frame(0x1, PING[:1], fin=False)] +
     [frame(0x0, PING[i:i + 1], fin=False) for i in range(1, len(PING) - 1)] +
     [frame(0x0, PING[-1:])], "msg-pong"),
    ("5.6 ping between fragments", [frame(0x1, PING[:5], fin=False), frame(0x9, b"mid"),
                                    frame(0x0, PING[5:])], "pong+msg"),
    ("5.9 text inside fragmented text", [frame(0x1, b"a", fin=False), frame(0x1, b"b")], 1002),
    ("5.10 binary inside fragmented text", [frame(0x1, b"a", fin=False), frame(0x2, b"b")], 1002),
    ("5.x fragments over 64 KiB", [frame(0x1, b"a" * 40000, fin=False), frame(0x0, b"b" * 30000)], 1009),
    ("5.x empty fragments", [frame(0x1, b"", fin=False), frame(0x0, b"", fin=False), frame(0x0, PING)],
     "msg-pong"),
    # 6. UTF-8
    ("6.2 valid multi-byte", [frame(0x1, "κόσμε".encode())], None),
    ("6.2 valid split inside a code point",
     [frame(0x1, "κόσμε".encode()[:3], fin=False), frame(0x0, "κόσμε".encode()[3:])], None),
    ("6.3 invalid", [frame(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")], 1007),
    ("6.4 invalid split across fragments", [frame(0x1, b"ok\xce", fin=False), frame(0x0, b"\x28")], 1007),
    ("6.4 invalid in a later fragment", [frame(0x1, b"fine", fin=False), frame(0x0, b"\xff")], 1007),
    ("6.6 truncated at the end", [frame(0x1, b"abc\xe2\x82")], 1007),
    ("6.8 overlong slash", [frame(0x1, b"\xc0\xaf")], 1007),
    ("6.9 surrogate", [frame(0x1, b"\xed\xa0\x80")], 1007),
    ("6.10 above U+10FFFF", [frame(0x1, b"\xf4\x90\x80\x80")], 1007),
    ("6.x binary is not UTF-8 checked", [frame(0x2, b"\xff\xfe")], None),
    # 7. close
    ("7.1.1 close 1000 echoed", [frame(0x8, close_payload(1000))], 1000),
    ("7.1.3 close without payload", [frame(0x8, b"")], 1005),
    ("7.1.6 data after close ignored", [frame(0x8, close_payload(1000)), frame(0x1, PING)], 1000),
    ("7.3.2 close with 1-byte payload", [frame(0x8, b"\x03")], 1002),
    ("7.3.4 close with reason", [frame(0x8, close_payload(1000, b"bye"))], 1000),
    ("7.3.5 close reason 123 bytes", [frame(0x8, close_payload(1000, b"r" * 123))], 1000),
    ("7.3.6 close payload over 125", [frame(0x8, close_payload(1000, b"r" * 124))], 1002),
    ("7.5.1 close reason invalid UTF-8", [frame(0x8, close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xff"))], 1007),
    *[(f"7.7 valid close code {c}", [frame(0x8, close_payload(c))], c)
      for c in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)],
    *[(f"7.9 invalid close code {c}", [frame(0x8, close_payload(c))], 1002)
      for c in (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535)],
]


@pytest.mark.parametrize("name,frames,expect", CASES, ids=[c[0] for c in CASES])
def test_conformance(url, name, frames, expect):
    c = WsClient(url)
    try:
        for f in frames:
            c.send_raw(f)
        if expect is None:
            roundtrip(c)
        elif isinstance(expect, int):
            code = c.expect_close()
            assert code == expect, f"{name}: closed with {code}, expected {expect}"
            assert c.wait_tcp_close(5), "the server must close the TCP connection"
        elif expect.startswith("pong"):
            n = int(expect.split(":")[1]) if expect.startswith("pongs:") else 1
            pongs = []
            while len(pongs) < n:
                ev = c.recv_event(5)
                if isinstance(ev, Pong):
                    pongs.append(bytes(ev.payload))
                    if expect.startswith("pong-last:") and pongs[-1] != expect[10:].encode():
                        n += 1  # an earlier ping's pong: the last one's is still due
            if expect.startswith("pong-last:"):
                assert len(pongs) <= 10 and pongs[-1] == expect[10:].encode()
            elif expect.startswith("pong:"):
                assert pongs[0] == expect[5:].encode()
            elif expect == "pong-bin":
                assert pongs[0] == b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
            elif expect == "pong-125":
                assert pongs[0] == b"\xfe" * 125
            roundtrip(c)
        elif expect == "msg-pong":
            assert c.recv(5) == {"type": "pong"}
        elif expect == "pong+msg":
            ev = c.recv_event(5)
            assert isinstance(ev, Pong) and bytes(ev.payload) == b"mid"
            assert c.recv(5) == {"type": "pong"}
    finally:
        c.close()


def test_server_close_handshake_waits_for_peer(notifier, pg):
    """A refusal (4401) is a close handshake: the server closes TCP once the client's close
    frame arrives, without waiting for the linger timer."""
    import time
    c = WsClient(f"{notifier.ws_url}/ws/inbox?token=nope")
    t0 = time.monotonic()
    assert c.expect_close() == 4401  # expect_close answers with our close frame
    assert c.wait_tcp_close(5)
    assert time.monotonic() - t0 < 1.5
    c.close()


def test_many_messages_in_one_write(url):
    c = WsClient(url)
    c.send_raw(b"".join(frame(0x1, PING) for _ in range(200)))
    for _ in range(200):
        assert c.recv(5) == {"type": "pong"}
    c.close()
