# SPDX-License-Identifier: MIT
"""Fixtures and helpers of the assistant-worker tests (test_ai_*.py).

The AI tests run on their OWN PostgreSQL cluster (module scope), not the session `pg`:
a worker answers every job of its database, and other suites' dialogs there must not
get answers they do not expect.

    aipg            a migrated cluster of the module
    workers         factory: workers(env=..., args=...) -> a started harness.AiWorker
    Listener(pg)    LISTEN chatai (and chatai_jobs) in a thread; .events, .wait_for(pred)
    new_assistant(pg, **columns), add_kb(pg, assistant, pairs), new_dialog(pg, assistant)
    post(pg, dialog, text), ai_messages(pg, dialog), messages(pg, dialog)
"""

import json
import os
import secrets
import select
import threading
import time

import pytest

import harness

KB = [
    ("How do I reset my password?", "Open Settings, then Security, then Reset password."),
    ("What are your opening hours?", "We are open from 9:00 to 18:00, Monday to Friday."),
    ("How much does shipping cost?", "Shipping is free over 50 EUR, otherwise 5 EUR."),
    ("Can I return an item?", "Yes, within 30 days of delivery, in its original packaging."),
]
ANSWER = {q: a for q, a in KB}
A_PASSWORD, A_HOURS, A_SHIPPING, A_RETURN = (a for _, a in KB)
UNKNOWN = "xyzzy plugh frobnicate"


@pytest.fixture(scope="module")
def aipg(tmp_path_factory):
    p = harness.Postgres(tmp_path_factory.mktemp("aipg")).start()
    yield p
    p.destroy()


@pytest.fixture
def workers(aipg):
    started = []

    def factory(env=None, args=(), pg=None):
        e = {"CHATAI_AI_SWEEP_INTERVAL": "1"}
        e.update(env or {})
        w = harness.AiWorker(pg or aipg, env=e, args=args).start()
        started.append(w)
        return w

    yield factory
    for w in started:
        w.stop()


def new_assistant(pg, name="Shop assistant", **cols):
    cols = {"name": name, **cols}
    keys = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    return pg.sql(f"INSERT INTO assistants ({keys}) VALUES ({marks}) RETURNING id", *cols.values())[0][0]


def add_kb(pg, assistant, pairs=KB):
    """Through the real import tool (chatai-ctl knowledge import)."""
    harness.add_knowledge(pg, assistant, pairs)


def new_dialog(pg, assistant):
    token_hash = secrets.token_hex(32)
    return pg.sql("INSERT INTO dialogs (assistant_id, visitor_token_hash) VALUES (%s, %s) RETURNING id",
                  assistant, token_hash)[0][0]


def post(pg, dialog, text, sender="user", client_id=None, event=None, status=None, operator=None):
    row = pg.sql("SELECT message::text, created FROM chatai_post_message(%s, %s, %s, %s, %s, %s, %s, %s)",
                 dialog, sender, text, client_id, operator, event, status, operator)[0]
    return json.loads(row[0])


def messages(pg, dialog):
    return [dict(seq=r[0], sender=r[1], text=r[2], event=r[3], status=r[4], client_id=r[5])
            for r in pg.sql("SELECT seq, sender, text, event, status, client_id FROM messages "
                            "WHERE dialog_id = %s ORDER BY seq", dialog)]


def ai_messages(pg, dialog):
    return [m for m in messages(pg, dialog) if m["sender"] == "ai"]


def dialog_row(pg, dialog):
    r = pg.sql("SELECT status, ai_failures, assigned_to FROM dialogs WHERE id = %s", dialog)[0]
    return {"status": r[0], "ai_failures": r[1], "assigned_to": r[2]}


def jobs(pg, dialog):
    return [dict(id=r[0], from_seq=r[1], up_to_seq=r[2], state=r[3], attempts=r[4], locked_by=r[5],
                 last_error=r[6])
            for r in pg.sql("SELECT id, from_seq, up_to_seq, state, attempts, locked_by, last_error "
                            "FROM answer_jobs WHERE dialog_id = %s ORDER BY id", dialog)]


def wait_ai(pg, dialog, n=1, timeout=10.0):
    return harness.wait_until(lambda: len(ai_messages(pg, dialog)) >= n and ai_messages(pg, dialog),
                              timeout=timeout, message=f"{n} ai message(s) in dialog {dialog}")


def wait_jobs_done(pg, dialog, timeout=10.0):
    return harness.wait_until(
        lambda: all(j["state"] in ("done", "failed") for j in jobs(pg, dialog)) and jobs(pg, dialog),
        timeout=timeout, message=f"jobs of dialog {dialog} ended")


def operator_online(pg, email=None, seen="now()"):
    """An operator seen at `seen` who holds a live session: online under
    chatai_operators_online() (sql/003_auth.sql) while `seen` is under 120 s old."""
    email = email or f"op-{secrets.token_hex(4)}@test.example"
    oid = pg.sql(f"INSERT INTO operators (email, name, password_hash, last_seen_at) "
                 f"VALUES (%s, 'Olga', 'x', {seen}) RETURNING id", email)[0][0]
    pg.sql("INSERT INTO sessions (operator_id, token_hash, expires_at) "
           "VALUES (%s, %s, now() + interval '1 hour')", oid, secrets.token_hex(32))
    return oid


class Listener:
    """LISTEN chatai on a dedicated connection; notifications are collected by a thread as
    (monotonic time, channel, payload dict)."""

    def __init__(self, pg, channels=("chatai",)):
        self.conn = pg.connect()
        with self.conn.cursor() as cur:
            for ch in channels:
                cur.execute(f"LISTEN {ch}")
        self.events = []
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            if select.select([self.conn], [], [], 0.1)[0]:
                self.conn.poll()
                with self.cond:
                    while self.conn.notifies:
                        n = self.conn.notifies.pop(0)
                        try:
                            payload = json.loads(n.payload)
                        except ValueError:
                            payload = n.payload
                        self.events.append((time.monotonic(), n.channel, payload))
                    self.cond.notify_all()

    def of_dialog(self, dialog):
        with self.cond:
            return [e[2] for e in self.events
                    if e[1] == "chatai" and isinstance(e[2], dict) and e[2].get("dialog_id") == dialog]

    def wait_for(self, pred, timeout=10.0, message="notification"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events:
                    if pred(e[2]):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {message}; got {self.events[-20:]}")
                self.cond.wait(left)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.conn.close()


def typing(dialog, state):
    return lambda p: (isinstance(p, dict) and p.get("k") == "typing" and p.get("dialog_id") == dialog
                      and p.get("who") == "ai" and p.get("state") == state)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def ai_summary(events, dialog):
    """The dialog's notifications reduced to what ordering tests compare."""
    out = []
    for p in events:
        if p.get("dialog_id") != dialog:
            continue
        if p["k"] == "typing":
            out.append(f"typing_{p['state']}:{p['who']}")
        elif p["k"] == "msg":
            out.append(f"msg:{p['msg']['sender']}:{p['aud']}")
    return out


def run_once(pg, env=None, timeout=30):
    """chatai-ai --once: process what is ready, then exit. Returns (exit status, log)."""
    e = harness.base_env({"CHATAI_DATABASE_URL": pg.url, **(env or {})})
    p = harness.Process([harness.binary("chatai-ai"), "--once"], env=e, name="chatai-ai-once",
                        log_path=os.path.join(str(pg.tmpdir), f"ai-once-{time.monotonic_ns()}.log"))
    p.start()
    try:
        rc = p.wait(timeout)
    finally:
        p.stop()
    return rc, p.log()
