# SPDX-License-Identifier: MIT
"""The shared host: chatai.fcgi with no daemon beside it, one request per process.

Item 4 of issue 11, answers with no daemon and no cron: when no chatai-ai has checked in
(ai_workers, sql/005_ai.sql), the request that stored a visitor's message answers
its job itself after its response went out (CGI: stdout closed, a detached child works).
Item 3, short polling: where a process serves one request at a time (CGI here, mod_fcgid
in test_shared_host_fcgid.py) `wait=` is answered at once and the clients are told to poll
briefly (`X-Chatai-Poll`, the widget configuration's "poll").

chatai.fcgi runs here as plain CGI, the way Apache's mod_cgi and mod_cgid run it: one
process per request, the request in the environment, the answer on stdout; the test reads
stdout to EOF exactly as the server does. These tests run on their own PostgreSQL cluster:
the answering request takes any ready job of its database.
"""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

import harness

KB = [
    ("How do I reset my password?", "Open Settings, then Security, then Reset password."),
    ("What are your opening hours?", "We are open from 9:00 to 18:00, Monday to Friday."),
]
A_PASSWORD, A_HOURS = (a for _, a in KB)


@pytest.fixture(scope="module")
def spg(tmp_path_factory):
    with harness.Postgres(tmp_path_factory.mktemp("sharedpg")) as p:
        yield p


@pytest.fixture(scope="module")
def assistant(spg):
    aid = harness.make_assistant(spg, "Shop", greeting="Hello! How can I help?")
    harness.add_knowledge(spg, aid, KB)
    return aid


class Cgi:
    """chatai.fcgi run as CGI: one process per request."""

    def __init__(self, pg, logdir, **settings):
        self.pg = pg
        self.log = open(os.path.join(logdir, f"cgi-{id(self)}.log"), "ab")
        self.env = harness.base_env({"CHATAI_DATABASE_URL": pg.url, "CHATAI_LOG_LEVEL": "debug",
                                     "CHATAI_RATE_LIMIT_DIALOGS": 0, "CHATAI_RATE_LIMIT_MESSAGES": 0,
                                     **{f"CHATAI_{k.upper()}": v for k, v in settings.items()}})

    def request(self, method, uri, body=None, headers=None):
        """(status, headers dict, body bytes, seconds until stdout's EOF)."""
        e = dict(self.env)
        e.update({"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "REQUEST_URI": uri,
                  "REMOTE_ADDR": "192.0.2.9", "SERVER_SOFTWARE": "Apache/2.4 (test)"})
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            e["CONTENT_TYPE"] = "application/json"
        e["CONTENT_LENGTH"] = str(len(data))
        for k, v in (headers or {}).items():
            e["HTTP_" + k.upper().replace("-", "_")] = v
        t0 = time.monotonic()
        p = subprocess.Popen([str(harness.binary("chatai.fcgi"))], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=self.log, env=e)
        p.stdin.write(data)
        p.stdin.close()
        out = p.stdout.read()  # the web server's view: the answer ends at EOF
        took = time.monotonic() - t0
        # Then Apache's mod_cgi and mod_cgid kill the script's process (SIGTERM).
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        p.stdout.close()
        p.wait(30)
        head, _, payload = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("Status: "), out
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(": ")
            hdrs[k.lower()] = v
        return status, hdrs, payload, took

    def json(self, method, uri, body=None, headers=None):
        status, hdrs, payload, took = self.request(method, uri, body, headers)
        return status, (json.loads(payload) if payload else None), hdrs, took


def new_dialog(cgi, assistant):
    st, j, _, _ = cgi.json("POST", "/api/widget/dialogs", {"assistant_id": assistant})
    assert st == 201, j
    return j["dialog_id"], j["visitor_token"]


def widget_sees(cgi, d, vt, after, want, t_sent, first_at_once=True, interval=1.0, timeout=10.0):
    """Poll like the widget in short mode: at once after sending, once more 0.3 s later
    (web/shared/transport.js followUpMs), then every `interval`.
    Returns (seconds from t_sent until `want` was seen, the messages)."""
    delay = 0.0 if first_at_once else interval
    follow_up = first_at_once
    while True:
        time.sleep(delay)
        st, msgs, hdrs, _ = cgi.json("GET", f"/api/widget/dialogs/{d}/messages?after={after}&wait=25",
                                     headers={"X-Visitor-Token": vt})
        assert st == 200, msgs
        if any(m["text"] == want for m in msgs):
            return time.monotonic() - t_sent, msgs
        assert time.monotonic() - t_sent < timeout, f"no answer after {timeout} s: {msgs}"
        delay = min(0.3, interval) if follow_up else interval
        follow_up = False


def jobs_of(pg, d):
    return pg.sql("SELECT state, locked_by, attempts FROM answer_jobs WHERE dialog_id = %s ORDER BY id", d)


def ai_texts(pg, d):
    return [r[0] for r in pg.sql("SELECT text FROM messages WHERE dialog_id = %s AND sender = 'ai' ORDER BY seq", d)]


# ---- item 3: short polling under CGI

def test_cgi_answers_wait_at_once_and_says_short(spg, assistant, tmp_path):
    cgi = Cgi(spg, tmp_path, fcgi_inline_ai="off")
    st, info, hdrs, _ = cgi.json("GET", f"/api/widget/assistants/{assistant}")
    assert st == 200
    assert info["poll"] == {"mode": "short", "active_ms": 1000, "idle_ms": 10000}
    assert {"id", "name", "greeting", "operators_online"} <= set(info)
    d, vt = new_dialog(cgi, assistant)
    st, msgs, hdrs, took = cgi.json("GET", f"/api/widget/dialogs/{d}/messages?after=1&wait=20",
                                    headers={"X-Visitor-Token": vt})
    assert st == 200 and msgs == []
    assert hdrs["x-chatai-poll"] == "short; active=1000; idle=10000"
    assert took < 1.0, took
    # cross-origin widgets may read the header
    st, _, hdrs, _ = cgi.json("GET", f"/api/widget/dialogs/{d}/messages?after=1&wait=20",
                              headers={"X-Visitor-Token": vt, "Origin": "https://shop.example"})
    assert hdrs["access-control-expose-headers"] == "X-Chatai-Poll"
    # fcgi_poll_mode = long keeps CGI long-polls (the process waits)
    lcgi = Cgi(spg, tmp_path, fcgi_inline_ai="off", fcgi_poll_mode="long")
    st, info, _, _ = lcgi.json("GET", f"/api/widget/assistants/{assistant}")
    assert info["poll"]["mode"] == "long"
    st, msgs, hdrs, took = lcgi.json("GET", f"/api/widget/dialogs/{d}/messages?after=1&wait=1",
                                     headers={"X-Visitor-Token": vt})
    assert msgs == [] and hdrs["x-chatai-poll"].startswith("long") and 0.9 < took < 5, took


# ---- item 4: answers with no daemon and no cron

def test_cgi_answers_the_question_itself_when_no_worker(spg, assistant, tmp_path):
    spg.sql("DELETE FROM ai_workers")
    cgi = Cgi(spg, tmp_path)
    seen = []
    for q, a in KB:
        d, vt = new_dialog(cgi, assistant)
        t_sent = time.monotonic()
        st, j, _, took = cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": q, "client_id": "c1"},
                                  headers={"X-Visitor-Token": vt})
        assert st == 201, j
        assert j["user_message"]["seq"] == 2
        lat, msgs = widget_sees(cgi, d, vt, 2, a, t_sent)
        seen.append((took, lat))
        print(f"\nCGI, no worker: POST answered in {1000 * took:.0f} ms; the widget (polling at once, "
              f"0.3 s later, then every 1 s) saw the answer {1000 * lat:.0f} ms after sending")
        assert lat < 2.0, lat
        # exactly once, by a request (the locked_by of chatai.fcgi), done
        harness.wait_until(lambda: jobs_of(spg, d) and jobs_of(spg, d)[0][0] == "done", 5, message="job done")
        (state, locked_by, attempts), = jobs_of(spg, d)
        assert locked_by.endswith(":fcgi") and attempts == 1
        assert ai_texts(spg, d) == ["Hello! How can I help?", a]
    # a retry of the same client_id stores nothing and answers nothing more
    st, j, _, _ = cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": KB[-1][0], "client_id": "c1"},
                           headers={"X-Visitor-Token": vt})
    assert st == 200
    time.sleep(0.5)
    assert ai_texts(spg, d) == ["Hello! How can I help?", KB[-1][1]]


def test_cgi_response_goes_out_before_the_answer_is_computed(spg, assistant, tmp_path):
    """The visitor's POST is not held by the job: with a job that takes 1.5 s (the
    worker's test pause after typing_start) the POST still answers at once, and the
    answer follows; the web server's kill of the CGI process when the request ends does
    not reach the detached child."""
    spg.sql("DELETE FROM ai_workers")
    cgi = Cgi(spg, tmp_path, ai_debug_delay_ms=1500)
    d, vt = new_dialog(cgi, assistant)
    t_sent = time.monotonic()
    st, j, _, took = cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": KB[0][0]},
                              headers={"X-Visitor-Token": vt})
    assert st == 201 and took < 1.0, took
    # (Cgi.request sent the script's process the SIGTERM of mod_cgi/mod_cgid at EOF)
    lat, _ = widget_sees(cgi, d, vt, 2, A_PASSWORD, t_sent, interval=0.2)
    assert 1.4 < lat < 4, lat
    assert ai_texts(spg, d) == ["Hello! How can I help?", A_PASSWORD]


def test_a_live_worker_keeps_the_jobs(spg, assistant, tmp_path):
    """While chatai-ai checks in, requests leave the jobs to it; once it stops (it says
    goodbye), the next request answers by itself."""
    cgi = Cgi(spg, tmp_path)
    w = harness.AiWorker(spg, env={"CHATAI_AI_WORKER_ID": "the-worker"}).start()
    try:
        harness.wait_until(lambda: spg.sql("SELECT count(*) FROM ai_workers WHERE worker_id = 'the-worker'")[0][0] == 1,
                           5, message="worker checked in")
        d, vt = new_dialog(cgi, assistant)
        t_sent = time.monotonic()
        cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": KB[1][0]}, headers={"X-Visitor-Token": vt})
        widget_sees(cgi, d, vt, 2, A_HOURS, t_sent)
        assert jobs_of(spg, d)[0][1] == "the-worker"
        # its check-in keeps being fresh
        time.sleep(3)
        age = spg.sql("SELECT extract(epoch FROM now() - seen_at) FROM ai_workers WHERE worker_id = 'the-worker'")[0][0]
        assert age < 2.5, age
    finally:
        w.stop()
    assert spg.sql("SELECT count(*) FROM ai_workers WHERE worker_id = 'the-worker'")[0][0] == 0
    d, vt = new_dialog(cgi, assistant)
    t_sent = time.monotonic()
    cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": KB[1][0]}, headers={"X-Visitor-Token": vt})
    widget_sees(cgi, d, vt, 2, A_HOURS, t_sent)
    assert jobs_of(spg, d)[0][1].endswith(":fcgi")


def test_a_stale_check_in_does_not_count(spg, assistant, tmp_path):
    """A worker that died without a word: its row ages out after a few seconds."""
    spg.sql("DELETE FROM ai_workers")
    spg.sql("INSERT INTO ai_workers (worker_id, seen_at) VALUES ('dead', now() - interval '30 seconds')")
    cgi = Cgi(spg, tmp_path)
    d, vt = new_dialog(cgi, assistant)
    t_sent = time.monotonic()
    cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": KB[0][0]}, headers={"X-Visitor-Token": vt})
    lat, _ = widget_sees(cgi, d, vt, 2, A_PASSWORD, t_sent)
    assert lat < 2.0
    spg.sql("DELETE FROM ai_workers")


def test_concurrent_posts_answered_exactly_once(spg, assistant, tmp_path):
    """Several requests racing for the jobs (the same claim and finish as the workers):
    every question answered, none twice."""
    spg.sql("DELETE FROM ai_workers")
    cgi = Cgi(spg, tmp_path)
    dialogs = [new_dialog(cgi, assistant) for _ in range(4)]
    errors = []

    def visitor(d, vt):
        try:
            for i, (q, _) in enumerate(KB):
                st, j, _, _ = cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": q, "client_id": f"q{i}"},
                                       headers={"X-Visitor-Token": vt})
                assert st == 201, j
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=visitor, args=dv) for dv in dialogs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors

    def settled():
        return all(all(s == "done" for s, _, _ in jobs_of(spg, d)) for d, _ in dialogs)

    harness.wait_until(settled, 10, message="every job done")
    for d, _ in dialogs:
        texts = ai_texts(spg, d)[1:]
        # one answer per question, whether the two were answered one by one or together
        assert texts in ([A_PASSWORD, A_HOURS], [A_PASSWORD + "\n\n" + A_HOURS]), texts
        assert len(spg.sql("SELECT 1 FROM messages WHERE dialog_id = %s AND sender = 'ai' "
                           "GROUP BY client_id HAVING count(*) > 1", d)) == 0


def test_inline_off(spg, assistant, tmp_path):
    spg.sql("DELETE FROM ai_workers")
    cgi = Cgi(spg, tmp_path, fcgi_inline_ai="off")
    d, vt = new_dialog(cgi, assistant)
    cgi.json("POST", f"/api/widget/dialogs/{d}/messages", {"text": KB[0][0]}, headers={"X-Visitor-Token": vt})
    time.sleep(1.0)
    assert jobs_of(spg, d)[0][0] == "pending"
    assert ai_texts(spg, d) == ["Hello! How can I help?"]
    spg.sql("DELETE FROM answer_jobs WHERE dialog_id = %s", d)


# ---- the same through a real Apache, the shipped .htaccess, no daemon (sharedhost.py)

@pytest.mark.parametrize("mode", ["cgi", "fcgid"])
def test_apache_shared_host_short_polls_and_answers_without_daemon(spg, assistant, mode):
    """Apache with mod_cgi (plain CGI, mpm_prefork) or mod_fcgid (4 processes at most), in
    .htaccess mode: the widget is told to short-poll, `wait=` is answered at once, and a
    visitor's question is answered by the knowledge base within 2 s for a widget polling
    the way it does (at once after sending, then every second), with no daemon and no cron."""
    import sharedhost

    spg.sql("DELETE FROM ai_workers")
    host = sharedhost.SharedHost(spg, mode, settings={"rate_limit_dialogs": "0",
                                                      "rate_limit_messages": "0"}).start()
    try:
        api = harness.Api(host.url)
        cfg = api.s.get(f"/api/widget/assistants/{assistant}").json()
        assert cfg["poll"] == {"mode": "short", "active_ms": 1000, "idle_ms": 10000}
        d, vt, _ = api.create_dialog(assistant)
        t = time.monotonic()
        r = api.visitor_messages(d, vt, after=1, wait=20)
        assert r.status_code == 200 and r.json() == [] and time.monotonic() - t < 1.0
        assert r.headers["X-Chatai-Poll"] == "short; active=1000; idle=10000"
        t_sent = time.monotonic()
        p = api.visitor_post(d, vt, KB[1][0], client_id="q1")
        assert p.status_code == 201, p.text
        took = time.monotonic() - t_sent
        delays = iter([0.0, 0.3])  # the widget: at once after sending, 0.3 s later, then every 1 s
        while True:
            time.sleep(next(delays, 1.0))
            msgs = api.visitor_messages(d, vt, after=2, wait=25).json()
            if any(m["text"] == A_HOURS for m in msgs):
                break
            assert time.monotonic() - t_sent < 10, msgs
        lat = time.monotonic() - t_sent
        print(f"\nApache {mode} (.htaccess, no daemon): POST {1000 * took:.0f} ms; the widget saw the answer "
              f"{1000 * lat:.0f} ms after sending")
        assert lat < 2.0, lat
        (state, locked_by, attempts), = jobs_of(spg, d)
        assert state == "done" and locked_by.endswith(":fcgi")
        assert ai_texts(spg, d) == ["Hello! How can I help?", A_HOURS]
        if mode == "cgi":
            # the detached child is gone once its job is done
            harness.wait_until(lambda: not sharedhost.processes_of(host.program), 5, message="CGI children gone")
        log = host.log()
        assert "End of script output before headers" not in log
    finally:
        host.stop()
