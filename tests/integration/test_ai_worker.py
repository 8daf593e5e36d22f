# SPDX-License-Identifier: MIT
"""chatai-ai against a real PostgreSQL: answers, ordering, handoff, leases, many workers.

Visitor messages are stored with chatai_post_message() (what chatai.fcgi calls), and the
worker runs as a real process; notifications are read with LISTEN. test_ai_rest.py does
the same through the REST API, the notifier and WebSocket clients.
"""

import contextlib
import os
import signal
import socket
import threading
import time

import pytest

import harness
from ai_fixtures import (A_HOURS, A_PASSWORD, A_RETURN, A_SHIPPING, KB, UNKNOWN, Listener, add_kb,  # noqa: F401
                         ai_messages, ai_summary, aipg, cpu_ticks, dialog_row, jobs, messages,
                         new_assistant, new_dialog, operator_online, post, run_once, typing, wait_ai,
                         wait_jobs_done, workers)


@pytest.fixture(scope="module")
def shop(aipg):
    a = new_assistant(aipg, "Shop assistant")
    add_kb(aipg, a, KB)
    return a


@pytest.fixture(autouse=True)
def _no_operator_online(aipg):
    # Offline hours are the default; tests that need an operator online add one.
    aipg.sql("UPDATE operators SET last_seen_at = NULL")
    yield


@contextlib.contextmanager
def being_answered(aipg, assistant, workers, question, delay_ms):
    """Workers that take delay_ms over each answer, a Listener, and a new dialog of assistant
    whose question a worker is answering now (its typing_start seen): yields (listener, dialog)."""
    workers(env={"CHATAI_AI_DEBUG_DELAY_MS": str(delay_ms)})
    lis = Listener(aipg)
    try:
        d = new_dialog(aipg, assistant)
        post(aipg, d, question)
        lis.wait_for(typing(d, "start"), message="typing_start")
        yield lis, d
    finally:
        lis.close()


def test_answer_between_typing_start_and_stop(aipg, shop, workers):
    workers()
    lis = Listener(aipg)
    try:
        d = new_dialog(aipg, shop)
        q = post(aipg, d, "How do I reset my password?")
        lis.wait_for(typing(d, "stop"), message="typing_stop")
        evs = lis.of_dialog(d)
        assert ai_summary(evs, d) == ["msg:user:admin", "typing_start:ai", "msg:ai:all", "typing_stop:ai"]
        ans = [p["msg"] for p in evs if p["k"] == "msg" and p["msg"]["sender"] == "ai"][0]
        assert ans["text"] == A_PASSWORD
        assert ans["seq"] == q["seq"] + 1
        job = jobs(aipg, d)[0]
        assert job["state"] == "done" and job["attempts"] == 1
        assert ans["client_id"] == f"ai-job-{job['id']}-{q['seq']}"
        assert dialog_row(aipg, d)["ai_failures"] == 0
    finally:
        lis.close()


def test_question_with_extra_words_and_odd_characters(aipg, shop, workers):
    workers()
    d = new_dialog(aipg, shop)
    post(aipg, d, "hello there!! I was wondering, how could I maybe reset my password please?")
    assert wait_ai(aipg, d)[0]["text"] == A_PASSWORD
    # Web-search syntax, quotes, SQL meta-characters, emoji, a long text: no crash, an answer.
    odd = ["'; DROP TABLE messages; --", '"opening hours" -password OR', "shipping \\ cost % _ ' \" ) (",
           "🚚 shipping? 🤔", "a" * 3990 + " hours", "the and of", "ÄÖÜ ß 東京 مرحبا"]
    for i, text in enumerate(odd):
        post(aipg, d, text)
        wait_ai(aipg, d, 2 + i)
    texts = [m["text"] for m in ai_messages(aipg, d)]
    assert texts[2] in (A_HOURS,) or "hours" in texts[2] or texts[2].startswith("Sorry")
    assert texts[3] == A_SHIPPING
    assert texts[4] == A_SHIPPING
    assert len(texts) == 1 + len(odd)
    assert aipg.sql("SELECT count(*) FROM messages")[0][0] > 0  # the table is still there


def test_unknown_questions_fall_back_then_hand_off(aipg, workers):
    a = new_assistant(aipg, "Strict", max_failures=2, fallback_message="Sorry, no idea. A human?",
                      offline_message="Nobody is here right now; we will write back.")
    add_kb(aipg, a, KB)
    workers()
    d = new_dialog(aipg, a)
    post(aipg, d, UNKNOWN)
    assert wait_ai(aipg, d)[0]["text"] == "Sorry, no idea. A human?"
    assert dialog_row(aipg, d) == {"status": "ai", "ai_failures": 1, "assigned_to": None}
    # A good answer in between resets the count ("in a row").
    post(aipg, d, "opening hours?")
    assert wait_ai(aipg, d, 2)[1]["text"] == A_HOURS
    assert dialog_row(aipg, d)["ai_failures"] == 0
    post(aipg, d, UNKNOWN + " again")
    wait_ai(aipg, d, 3)
    post(aipg, d, "still " + UNKNOWN)
    harness.wait_until(lambda: dialog_row(aipg, d)["status"] == "waiting", message="waiting")
    ms = messages(aipg, d)
    assert [(m["sender"], m["event"], m["status"]) for m in ms[-3:]] == [
        ("ai", None, None), ("system", "handoff_requested", "waiting"), ("system", "offline_notice", "waiting")]
    assert ms[-3]["text"] == "Sorry, no idea. A human?"
    assert ms[-1]["text"] == "Nobody is here right now; we will write back."
    assert dialog_row(aipg, d)["ai_failures"] == 0
    # While waiting the assistant stays silent: no job at all.
    n = len(ms)
    post(aipg, d, "How do I reset my password?")
    time.sleep(0.5)
    assert len(messages(aipg, d)) == n + 1
    assert len(jobs(aipg, d)) == 4


def test_handoff_words(aipg, workers):
    a = new_assistant(aipg, "Words", handoff_words=["human", "real person", "оператор"])
    add_kb(aipg, a, KB)
    op = operator_online(aipg)
    workers()
    lis = Listener(aipg)
    try:
        for text, handoff in [("humane treatment of password resets", False),
                              ("I'd like a REAL   person, please", True),
                              ("Позовите ОПЕРАТОР", True)]:
            d = new_dialog(aipg, a)
            post(aipg, d, text)
            wait_jobs_done(aipg, d)
            ms = messages(aipg, d)
            if handoff:
                assert [(m["sender"], m["event"]) for m in ms] == [("user", None), ("system", "handoff_requested")]
                assert dialog_row(aipg, d)["status"] == "waiting"
                # The visitor asked: no answer, no typing indicator. An operator is online:
                # no offline notice.
                assert not any(p["k"] == "typing" for p in lis.of_dialog(d))
            else:
                assert ms[-1]["sender"] == "ai"
                assert dialog_row(aipg, d)["status"] == "ai"
    finally:
        lis.close()
        aipg.sql("DELETE FROM operators WHERE id = %s", op)


def test_operator_seen_long_ago_is_offline(aipg, workers):
    a = new_assistant(aipg, "Offline")
    op = operator_online(aipg, seen="now() - interval '3 minutes'")
    workers()
    d = new_dialog(aipg, a)
    post(aipg, d, "human please")
    harness.wait_until(lambda: len(messages(aipg, d)) == 3, message="handoff + offline notice")
    assert messages(aipg, d)[2]["event"] == "offline_notice"
    aipg.sql("DELETE FROM operators WHERE id = %s", op)


def test_silent_when_an_operator_holds_the_dialog(aipg, shop, workers):
    op = operator_online(aipg)
    # The question is queued, then an operator takes over before any worker runs.
    d = new_dialog(aipg, shop)
    post(aipg, d, "How do I reset my password?")
    post(aipg, d, "Olga joined", sender="system", event="operator_joined", status="operator", operator=op)
    # Questions asked while the operator holds the dialog make no job.
    post(aipg, d, "What are your opening hours?")
    lis = Listener(aipg)
    try:
        rc, log = run_once(aipg)
        assert rc == 0, log
        assert ai_messages(aipg, d) == []
        (job,) = jobs(aipg, d)
        assert job["state"] == "done" and job["last_error"] == "dialog status operator"
        assert not any(p["k"] == "typing" for p in lis.of_dialog(d))
    finally:
        lis.close()

    # The operator takes over WHILE the worker computes: the answer is dropped under lock.
    try:
        with being_answered(aipg, shop, workers, "How much does shipping cost?", 1500) as (lis, d2):
            post(aipg, d2, "Olga joined", sender="system", event="operator_joined", status="operator", operator=op)
            lis.wait_for(typing(d2, "stop"), message="typing_stop")
            assert ai_messages(aipg, d2) == []
            assert jobs(aipg, d2)[0]["last_error"] == "dialog status operator"
    finally:
        aipg.sql("DELETE FROM operators WHERE id = %s", op)


def test_release_gives_the_dialog_back(aipg, shop, workers):
    op = operator_online(aipg)
    workers()
    d = new_dialog(aipg, shop)
    post(aipg, d, "I want a human")
    harness.wait_until(lambda: dialog_row(aipg, d)["status"] == "waiting", message="waiting")
    post(aipg, d, "Olga joined", sender="system", event="operator_joined", status="operator", operator=op)
    post(aipg, d, "opening hours?")
    # What chatai.fcgi's /release does: operator_left, status ai.
    post(aipg, d, "Olga left", sender="system", event="operator_left", status="ai")
    post(aipg, d, "Can I return an item?")
    assert [m["text"] for m in wait_ai(aipg, d)] == [A_RETURN]
    aipg.sql("DELETE FROM operators WHERE id = %s", op)


def test_waiting_timeout_returns_to_the_assistant(aipg, workers):
    a = new_assistant(aipg, "Impatient", waiting_timeout=1)
    add_kb(aipg, a, KB)
    w = workers()
    d = new_dialog(aipg, a)
    post(aipg, d, "operator!")
    harness.wait_until(lambda: dialog_row(aipg, d)["status"] == "waiting", message="waiting")
    t0 = time.monotonic()
    harness.wait_until(lambda: dialog_row(aipg, d)["status"] == "ai", timeout=6, message="released")
    assert time.monotonic() - t0 < 4
    last = messages(aipg, d)[-1]
    assert (last["sender"], last["event"], last["status"]) == ("system", "dialog_released", "ai")
    post(aipg, d, "How do I reset my password?")
    assert wait_ai(aipg, d)[0]["text"] == A_PASSWORD
    assert "gave timed-out waiting dialogs back" in w.log()
    # A dialog that an operator took in time is not released.
    d2 = new_dialog(aipg, a)
    op = operator_online(aipg)
    post(aipg, d2, "human")
    harness.wait_until(lambda: dialog_row(aipg, d2)["status"] == "waiting", message="waiting")
    post(aipg, d2, "Olga joined", sender="system", event="operator_joined", status="operator", operator=op)
    time.sleep(2)
    assert dialog_row(aipg, d2)["status"] == "operator"
    aipg.sql("DELETE FROM operators WHERE id = %s", op)


def test_questions_in_a_row_are_answered_together_in_order(aipg, shop, workers):
    # All queued before a worker runs: one job, one answer, in the order asked.
    d = new_dialog(aipg, shop)
    for q in ["What are your opening hours?", "How much does shipping cost?", "How do I reset my password?"]:
        post(aipg, d, q)
    (job,) = jobs(aipg, d)
    assert (job["from_seq"], job["up_to_seq"]) == (1, 3)
    rc, log = run_once(aipg)
    assert rc == 0, log
    assert [m["text"] for m in ai_messages(aipg, d)] == [f"{A_HOURS}\n\n{A_SHIPPING}\n\n{A_PASSWORD}"]

    # Asked while the first is being answered: they wait for it and come together next.
    with being_answered(aipg, shop, workers, "Can I return an item?", 1000) as (lis, d2):
        post(aipg, d2, "How much does shipping cost?")
        post(aipg, d2, "What are your opening hours?")
        wait_ai(aipg, d2, 2)
        ms = messages(aipg, d2)
        assert [(m["sender"], m["text"]) for m in ms] == [
            ("user", "Can I return an item?"), ("user", "How much does shipping cost?"),
            ("user", "What are your opening hours?"), ("ai", A_RETURN), ("ai", f"{A_SHIPPING}\n\n{A_HOURS}")]
        js = jobs(aipg, d2)
        assert [(j["from_seq"], j["up_to_seq"], j["state"]) for j in js] == [(1, 1, "done"), (2, 3, "done")]
        harness.wait_until(lambda: ai_summary(lis.of_dialog(d2), d2).count("typing_stop:ai") == 2,
                           message="second typing_stop")
        assert [e for e in ai_summary(lis.of_dialog(d2), d2) if e != "msg:user:admin"] == [
            "typing_start:ai", "msg:ai:all", "typing_stop:ai", "typing_start:ai", "msg:ai:all", "typing_stop:ai"]


def test_killed_worker_job_is_answered_once_by_another(aipg, shop, workers):
    lis = Listener(aipg)
    try:
        slow = workers(env={"CHATAI_AI_DEBUG_DELAY_MS": "60000", "CHATAI_AI_LEASE": "2"})
        d = new_dialog(aipg, shop)
        post(aipg, d, "How do I reset my password?")
        lis.wait_for(typing(d, "start"), message="typing_start of the doomed worker")
        slow.kill(signal.SIGKILL)
        slow.wait(5)
        assert jobs(aipg, d)[0]["state"] == "running"
        t0 = time.monotonic()
        other = workers(env={"CHATAI_AI_LEASE": "2"})
        wait_ai(aipg, d, timeout=15)
        took = time.monotonic() - t0
        time.sleep(1)
        assert [m["text"] for m in ai_messages(aipg, d)] == [A_PASSWORD]
        (job,) = jobs(aipg, d)
        assert job["state"] == "done" and job["attempts"] == 2
        assert job["locked_by"] != "" and str(other.pid) in job["locked_by"]
        assert took < 6, f"the lease of 2 s was taken over after {took:.1f} s"
    finally:
        lis.close()


def test_stale_worker_cannot_store_a_second_answer(aipg, shop):
    # Worker A's lease ran out, worker B took the job and answered; then A wakes up and
    # tries to finish: it is told "lost" and nothing is stored.
    d = new_dialog(aipg, shop)
    post(aipg, d, "How much does shipping cost?")
    (job,) = aipg.sql("SELECT id FROM chatai_ai_claim('A', 0)")
    time.sleep(0.05)
    (job_b,) = aipg.sql("SELECT id FROM chatai_ai_claim('B', 60)")
    assert job_b == job
    assert aipg.sql("SELECT chatai_ai_finish(%s, 'B', 'answer of B', false, false, '', 'done')", job[0]) \
        == [("answered",)]
    assert aipg.sql("SELECT chatai_ai_finish(%s, 'A', 'answer of A', false, false, '', 'done')", job[0]) \
        == [("lost",)]
    assert [m["text"] for m in ai_messages(aipg, d)] == ["answer of B"]
    # The same worker finishing twice (a retry of the statement after a lost reply): the
    # job is no longer running, nothing more is stored.
    assert aipg.sql("SELECT chatai_ai_finish(%s, 'B', 'again', false, false, '', 'done')", job[0]) \
        == [("lost",)]
    # A retried job whose answer is already stored (client_id) does not store it twice.
    d2 = new_dialog(aipg, shop)
    q = post(aipg, d2, "How much does shipping cost?")
    (j2,) = aipg.sql("SELECT id FROM chatai_ai_claim('C', 60)")
    post(aipg, d2, "first", sender="ai", client_id=f"ai-job-{j2[0]}-{q['seq']}")
    assert aipg.sql("SELECT chatai_ai_finish(%s, 'C', 'second', false, false, '', 'done')", j2[0]) \
        == [("duplicate",)]
    assert [m["text"] for m in ai_messages(aipg, d2)] == ["first"]
    # A bad final state is refused.
    with pytest.raises(Exception):
        aipg.sql("SELECT chatai_ai_finish(%s, 'C', 'x', false, false, '', 'bogus')", j2[0])


def test_bounded_attempts_end_with_the_fallback(aipg, workers):
    a = new_assistant(aipg, "Cursed", fallback_message="Sorry, something went wrong. A human?")
    add_kb(aipg, a, KB)
    d = new_dialog(aipg, a)
    post(aipg, d, "How do I reset my password?")
    # Two workers died on this job already (claimed with leases that ran out).
    for who in ("dead-1", "dead-2"):
        aipg.sql("SELECT id FROM chatai_ai_claim(%s, 0)", who)
        time.sleep(0.02)
    workers(env={"CHATAI_AI_MAX_ATTEMPTS": "2"})
    wait_jobs_done(aipg, d)
    (job,) = jobs(aipg, d)
    assert job["state"] == "failed" and job["attempts"] == 3
    assert [m["text"] for m in ai_messages(aipg, d)] == ["Sorry, something went wrong. A human?"]
    assert dialog_row(aipg, d)["ai_failures"] == 1


def test_two_workers_200_dialogs_each_answered_once(aipg, shop, workers):
    w1 = workers()
    w2 = workers()
    questions = [q for q, _ in KB]
    dialogs = [new_dialog(aipg, shop) for _ in range(200)]

    def visitor(ds):
        conn = aipg.connect()
        with conn.cursor() as cur:
            for i, d in ds:
                cur.execute("SELECT created FROM chatai_post_message(%s, 'user', %s)", (d, questions[i % 4]))
        conn.close()

    threads = [threading.Thread(target=visitor, args=(list(enumerate(dialogs))[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = tuple(dialogs)
    harness.wait_until(
        lambda: aipg.sql("SELECT count(*) FROM messages WHERE sender = 'ai' AND dialog_id IN %s", ids)[0][0] >= 200,
        timeout=60, message="200 answers")
    time.sleep(1)
    rows = aipg.sql("SELECT dialog_id, count(*), min(text) FROM messages WHERE sender = 'ai' AND dialog_id IN %s "
                    "GROUP BY dialog_id", ids)
    assert len(rows) == 200
    assert all(r[1] == 1 for r in rows)
    answers = {r[0]: r[2] for r in rows}
    for i, d in enumerate(dialogs):
        assert answers[d] == KB[i % 4][1]
    by = dict(aipg.sql("SELECT locked_by, count(*) FROM answer_jobs j WHERE dialog_id IN %s GROUP BY 1", ids))
    assert sum(by.values()) == 200
    assert set(by) <= {k for k in by if k.endswith(f":{w1.pid}") or k.endswith(f":{w2.pid}")}
    print(f"jobs per worker: {by}")


def test_idle_worker_sleeps(aipg, workers):
    w = workers(env={"CHATAI_AI_SWEEP_INTERVAL": "5"})
    time.sleep(0.5)
    before = cpu_ticks(w.pid)
    time.sleep(3)
    used = cpu_ticks(w.pid) - before
    assert used <= 5, f"idle worker used {used} clock ticks in 3 s"


def test_sigterm_finishes_the_job_in_hand(aipg, shop, workers):
    lis = Listener(aipg)
    try:
        w = workers(env={"CHATAI_AI_DEBUG_DELAY_MS": "1000"})
        d = new_dialog(aipg, shop)
        post(aipg, d, "Can I return an item?")
        lis.wait_for(typing(d, "start"), message="typing_start")
        w.kill(signal.SIGTERM)
        assert w.wait(10) == 0
        assert [m["text"] for m in ai_messages(aipg, d)] == [A_RETURN]
        assert jobs(aipg, d)[0]["state"] == "done"
    finally:
        lis.close()


def test_a_silent_mail_server_delays_no_answer_and_no_stop(aipg, shop, workers):
    """Mail goes out from a thread of its own (ai/mailthread.h): while the worker waits on a
    mail server that takes the connection and never says a word, a visitor's question is
    answered as usual, and SIGTERM still ends the worker within 2 s (the send gives up and
    the mail waits for a later try)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    held, done = [], threading.Event()

    def accept():
        while not done.is_set():
            try:
                held.append(srv.accept()[0])  # kept open, never answered
            except socket.timeout:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        md = new_dialog(aipg, shop)
        aipg.sql("INSERT INTO dialog_contacts (dialog_id, email) VALUES (%s, 'silent@example.org')", md)
        assert aipg.sql("SELECT chatai_mail_transcript(%s)", md) == [(1,)]
        w = workers(env={"CHATAI_SMTP_URL": f"smtp://127.0.0.1:{srv.getsockname()[1]}",
                         "CHATAI_MAIL_FROM": "chat@shop.example", "CHATAI_PUBLIC_URL": "http://shop.example"})
        harness.wait_until(lambda: held and aipg.sql("SELECT state FROM mail_outbox WHERE dialog_id = %s", md)
                           == [("sending",)], timeout=10, message="the worker waits on the mail server")
        d = new_dialog(aipg, shop)
        t0 = time.monotonic()
        post(aipg, d, "How do I reset my password?")
        assert [m["text"] for m in wait_ai(aipg, d, timeout=10)] == [A_PASSWORD]
        took = time.monotonic() - t0
        assert took < 3, f"the answer took {took:.1f} s behind a silent mail server"
        assert aipg.sql("SELECT state FROM mail_outbox WHERE dialog_id = %s", md) == [("sending",)]  # still
        t0 = time.monotonic()
        w.kill(signal.SIGTERM)
        assert w.wait(10) == 0
        took = time.monotonic() - t0
        assert took < 2.0, f"SIGTERM took {took:.1f} s"
        # not taken by the server: queued again for a later try, neither sent nor lost
        assert aipg.sql("SELECT state, attempts, last_error IS NOT NULL FROM mail_outbox WHERE dialog_id = %s",
                        md) == [("queued", 1, True)]
    finally:
        done.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


def test_worker_survives_a_database_restart(tmp_path):
    pg = harness.Postgres(tmp_path / "pg").start()
    w = None
    try:
        a = new_assistant(pg, "Restart")
        add_kb(pg, a, KB)
        w = harness.AiWorker(pg, env={"CHATAI_AI_SWEEP_INTERVAL": "1"}).start()
        d = new_dialog(pg, a)
        post(pg, d, "opening hours")
        wait_ai(pg, d)
        pg.restart()
        post(pg, d, "shipping cost")
        assert [m["text"] for m in wait_ai(pg, d, 2, timeout=20)] == [A_HOURS, A_SHIPPING]
        assert w.running
    finally:
        if w:
            w.stop()
        pg.destroy()


def test_bad_settings_and_arguments(aipg):
    ai = harness.binary("chatai-ai")
    import subprocess
    for env, args, needle in [({"CHATAI_AI_PROVIDER": "magic"}, [], "ai_provider"),
                              ({"CHATAI_AI_PROVIDER": "openai"}, [], "ai_base_url"),
                              ({"CHATAI_AI_LEASE": "0"}, [], "ai_lease"),
                              ({}, ["--bogus"], "usage"),
                              ({}, ["--config", "/nonexistent/chatai.conf"], "/nonexistent/chatai.conf"),
                              ({"CHATAI_AI_TIMEOUT": "soon"}, ["--config", "/dev/null", "--once"], None),
                              ({"CHATAI_DATABASE_URL": ""}, [], "database_url")]:
        e = harness.base_env({"CHATAI_DATABASE_URL": aipg.url, **env})
        cp = subprocess.run([str(ai), *args], env=e, capture_output=True, text=True, timeout=10)
        if needle is None:
            # A malformed number falls back to its default (with a warning): --once runs.
            assert cp.returncode == 0, cp.stderr
            assert 'ai_timeout = "soon" is not an integer' in cp.stderr
            continue
        assert cp.returncode != 0, (env, args)
        assert needle in cp.stderr, cp.stderr
    # --once against a database that is not there: a clear error, no hang.
    e = harness.base_env({"CHATAI_DATABASE_URL": f"postgresql://chatai@127.0.0.1:{harness.free_port()}/chatai"})
    cp = subprocess.run([str(ai), "--once"], env=e, capture_output=True, text=True, timeout=20)
    assert cp.returncode == 1 and "database unavailable" in cp.stderr


def test_long_answers_joined_are_cut_to_the_message_limit(aipg):
    a = new_assistant(aipg, "Verbose")
    add_kb(aipg, a, [("What is alpha?", "α" * 3000), ("What is beta?", "β" * 3000)])
    d = new_dialog(aipg, a)
    post(aipg, d, "What is alpha?")
    post(aipg, d, "What is beta?")
    rc, log = run_once(aipg)
    assert rc == 0, log
    (m,) = ai_messages(aipg, d)
    assert len(m["text"]) == 4000
    assert m["text"] == "α" * 3000 + "\n\n" + "β" * 998


def test_search_uses_the_assistants_language_and_knowledge_only(aipg):
    de = new_assistant(aipg, "Deutsch", ts_config="german")
    add_kb(aipg, de, [("Wie kann ich mein Passwort zurücksetzen?", "Unter Einstellungen, Sicherheit."),
                      ("Wann haben Sie geöffnet?", "Montag bis Freitag, 9 bis 18 Uhr.")])
    other = new_assistant(aipg, "Other")
    add_kb(aipg, other, [("How do I reset my password?", "Not the German assistant's answer.")])
    d = new_dialog(aipg, de)
    # German stemming: "zurückgesetzt"/"Passworts" reach the entry's lexemes.
    post(aipg, d, "Hallo! Mein Passworts muss zurückgesetzt werden, bitte")
    d2 = new_dialog(aipg, de)
    post(aipg, d2, "How do I reset my password?")
    rc, log = run_once(aipg)
    assert rc == 0, log
    assert [m["text"] for m in ai_messages(aipg, d)] == ["Unter Einstellungen, Sicherheit."]
    # The other assistant's entry is never used.
    fallback = aipg.sql("SELECT fallback_message FROM assistants WHERE id = %s", de)[0][0]
    assert [m["text"] for m in ai_messages(aipg, d2)] == [fallback]


def test_busy_worker_still_honours_waiting_timeouts(aipg, shop, workers):
    a = new_assistant(aipg, "Busy", waiting_timeout=2)
    workers(env={"CHATAI_AI_SWEEP_INTERVAL": "5"})
    d = new_dialog(aipg, a)
    post(aipg, d, "human")
    harness.wait_until(lambda: dialog_row(aipg, d)["status"] == "waiting", message="waiting")
    # New jobs wake the worker every 100 ms, before any timer could fire.
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            post(aipg, new_dialog(aipg, shop), "opening hours?")
            time.sleep(0.1)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        harness.wait_until(lambda: dialog_row(aipg, d)["status"] == "ai", timeout=6, message="released while busy")
    finally:
        stop.set()
        t.join()


def test_offline_notice_rule_for_every_writer(aipg, shop):
    op = aipg.sql("INSERT INTO operators (email, name, password_hash) VALUES ('late@x.example', 'Late', 'x') "
                  "RETURNING id")[0][0]
    # Any writer of handoff_requested (here plain SQL, as chatai.fcgi does) gets the notice.
    d = new_dialog(aipg, shop)
    post(aipg, d, "The visitor asked for a human", sender="system", event="handoff_requested", status="waiting")
    assert [(m["event"], m["seq"]) for m in messages(aipg, d)] == [("handoff_requested", 1), ("offline_notice", 2)]
    # Taken over in the same transaction: no notice.
    d2 = new_dialog(aipg, shop)
    conn = aipg.connect(autocommit=False)
    with conn.cursor() as cur:
        cur.execute("SELECT chatai_post_message(%s, 'system', 'handoff', NULL, NULL, 'handoff_requested', 'waiting')",
                    (d2,))
        cur.execute("SELECT chatai_post_message(%s, 'system', 'Late joined', NULL, %s, 'operator_joined', "
                    "'operator', %s)", (d2, op, op))
    conn.commit()
    conn.close()
    assert [m["event"] for m in messages(aipg, d2)] == ["handoff_requested", "operator_joined"]
    aipg.sql("DELETE FROM operators WHERE id = %s", op)
