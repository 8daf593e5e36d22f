# SPDX-License-Identifier: MIT
"""Concurrent writers on one dialog: seq is 1..N with no gap and no duplicate, and every
retried client_id is stored exactly once."""

import concurrent.futures
import threading
import uuid

import pytest  # noqa: F401
import requests

pytest_plugins = ["rest_fixtures"]  # its fixtures, shared by every module of the session


def test_eight_clients_fifty_messages_each(env):
    d, vt, j = env.new_dialog()              # the greeting is seq 1
    assert [m["seq"] for m in j["messages"]] == [1]
    url = f"{env.url}/api/widget/dialogs/{d}/messages"
    start = threading.Barrier(8)
    results = {}

    def client(n):
        s = requests.Session()
        s.headers.update({"X-Visitor-Token": vt})
        mine = []
        start.wait()
        for i in range(50):
            cid = f"c{n}-{i}"
            r = s.post(url, json={"sender": "user", "text": f"client {n} message {i}", "client_id": cid}, timeout=30)
            assert r.status_code == 201, r.text
            m = r.json()["user_message"]
            # the same post again (a retry after a lost answer): 200, the same message
            r2 = s.post(url, json={"sender": "user", "text": "retry", "client_id": cid}, timeout=30)
            assert r2.status_code == 200 and r2.json()["user_message"] == m, r2.text
            mine.append(m)
        results[n] = mine

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for f in [ex.submit(client, n) for n in range(8)]:
            f.result()
    seqs = sorted(m["seq"] for ms in results.values() for m in ms)
    assert seqs == list(range(2, 402))
    ids = [m["id"] for ms in results.values() for m in ms]
    assert len(set(ids)) == 400
    for ms in results.values():       # each client's messages in its own order
        s = [m["seq"] for m in ms]
        assert s == sorted(s)
    rows = env.pg.sql("SELECT seq, client_id FROM messages WHERE dialog_id = %s ORDER BY seq", d)
    assert [r[0] for r in rows] == list(range(1, 402))
    assert len({r[1] for r in rows if r[1]}) == 400
    assert env.pg.sql("SELECT last_seq FROM dialogs WHERE id = %s", d)[0][0] == 401
    hist = env.op().get(f"/api/dialogs/{d}/messages", params={"after": 0, "limit": 1000}).json()
    assert [m["seq"] for m in hist] == list(range(1, 402))


def test_same_client_id_raced(env):
    """The same client_id sent by four connections at the same instant: stored once, one 201."""
    d, vt, _ = env.new_dialog(env.silent)
    url = f"{env.url}/api/dialogs/{d}/messages"
    h = {"Authorization": f"Bearer {env.op_token}"}
    cids = [f"race-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    codes = {c: [] for c in cids}
    lock = threading.Lock()

    def send(cid, barrier):
        barrier.wait()
        r = requests.post(url, json={"text": f"text of {cid}", "client_id": cid}, headers=h, timeout=30)
        with lock:
            codes[cid].append((r.status_code, r.json().get("id")))

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for cid in cids:
            b = threading.Barrier(4)
            list(ex.map(lambda _: send(cid, b), range(4)))
    for cid, got in codes.items():
        assert sorted(c for c, _ in got) == [200, 200, 200, 201], (cid, got)
        assert len({i for _, i in got}) == 1
    n = env.pg.sql("SELECT count(*), count(DISTINCT client_id) FROM messages WHERE dialog_id = %s AND sender = 'manager'", d)[0]
    assert n == (20, 20)
