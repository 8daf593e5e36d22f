# SPDX-License-Identifier: MIT
"""Mail when nobody is watching (issue 15), against a real SMTP server (aiosmtpd).

The REST routes (contact, read, transcript, resume) and their bad inputs; the outbox:
operator alerts once per dialog in one digest, reply mails (several replies in one, none
for a read reply) with a resume link that opens the dialog with one more visitor token,
transcripts on request (rate limited) and on close; retries with backoff on 4xx, failed
after N 5xx; exactly once with the sender SIGKILLed after the server took a mail;
header injection; mail off when smtp_url is unset; the chatai-ai loop sending.
Mails are sent by `chatai-ctl mail --once`, so each test says when the sender runs.
"""

import os
import re
import signal
import subprocess
import time

import pytest

import harness
from smtp_fixtures import SmtpSink

FROM = "chat@shop.test.example"
PUBLIC = "http://shop.test.example"


@pytest.fixture(scope="module")
def smtp():
    s = SmtpSink().start()
    yield s
    s.stop()


def mail_env(smtp, **over):
    e = {"CHATAI_SMTP_URL": smtp.url, "CHATAI_MAIL_FROM": FROM, "CHATAI_PUBLIC_URL": PUBLIC,
         "CHATAI_MAIL_REPLY_DELAY": 0, "CHATAI_MAIL_ALERT_DELAY": 0}
    e.update(over)
    return e


@pytest.fixture(scope="module")
def mstack(pg, smtp, tmp_path_factory):
    s = harness.Stack(tmp_path_factory.mktemp("mailstack"), notifier=False, ai=False, pg=pg,
                      env={**mail_env(smtp), "CHATAI_RATE_LIMIT_DIALOGS": 0, "CHATAI_RATE_LIMIT_MESSAGES": 0})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def people(mstack):
    pg = mstack.pg
    boss = harness.make_operator(pg, "boss@shop.test.example", "boss-password-1", "Boss", "admin")
    aid = harness.make_assistant(pg, "Shop helper", greeting="Hi!")
    token = harness.Api(mstack.url).login("boss@shop.test.example", "boss-password-1")
    return {"boss": boss, "assistant": aid, "token": token}


@pytest.fixture
def m(mstack, smtp, people):
    """A clean outbox and mailbox, and nobody online."""
    mstack.pg.sql("UPDATE mail_outbox SET state = 'skipped' WHERE state IN ('queued', 'sending')")
    mstack.pg.sql("UPDATE operators SET last_seen_at = NULL")
    smtp.clear()
    return Mail(mstack, smtp, people)


class Mail:
    def __init__(self, stack, smtp, people):
        self.stack, self.smtp, self.people = stack, smtp, people
        self.api = harness.Api(stack.url)
        self.pg = stack.pg

    def dialog(self, email="visitor@example.org", name="Vera", **extra):
        did, tok, _ = self.api.create_dialog(self.people["assistant"])
        if email:
            r = self.contact(did, tok, {"email": email, "name": name, "consent": True, **extra})
            assert r.status_code == 200, r.text
        return did, tok

    def contact(self, did, tok, body):
        return self.api.s.post(f"/api/widget/dialogs/{did}/contact", json=body, headers={"X-Visitor-Token": tok})

    def widget(self, did, tok, what, **kw):
        return self.api.s.post(f"/api/widget/dialogs/{did}/{what}", headers={"X-Visitor-Token": tok}, **kw)

    def asked(self, email):
        """A dialog with a contact whose transcript is asked for: its id."""
        did, tok = self.dialog(email=email)
        assert self.widget(did, tok, "transcript").status_code == 202
        return did

    def reply(self, did, text):
        r = self.api.operator_post(self.people["token"], did, text)
        assert r.status_code in (200, 201), r.text
        # the reply made the operator "online": alerts are for when nobody is
        self.pg.sql("UPDATE operators SET last_seen_at = NULL")
        return r.json()

    def send(self, check=True, **env):
        cp = harness.run_ctl(self.pg.url, "mail", "--once", env=mail_env(self.smtp, **env), check=check)
        return cp

    def rows(self, did):
        return self.pg.sql("SELECT kind, state, attempts, from_seq, upto_seq, last_error,"
                           " next_at > now() + interval '30 seconds' FROM mail_outbox WHERE dialog_id = %s"
                           " ORDER BY id", did)

    def to(self, addr):
        return [x for x in self.smtp.mails if addr in x["rcpt"]]


def text_of(smtp, mail):
    return "\n".join(smtp.bodies(mail))


# ---- REST: bad inputs ---------------------------------------------------------------


def test_contact_refuses_bad_input(m):
    did, tok = m.dialog(email=None)
    cases = [
        ({"email": "not-an-address", "consent": True}, "email"),
        ({"email": "a@b", "consent": True}, "email"),
        ({"email": 42, "consent": True}, "email"),
        ({"consent": True}, "email"),
        ({"email": "v@example.org\r\nBcc: evil@example.com", "consent": True}, "email"),
        ({"email": "v@example.org"}, "consent"),
        ({"email": "v@example.org", "consent": False}, "consent"),
        ({"email": "v@example.org", "consent": "true"}, "consent"),
        ({"email": "v@example.org", "name": "Eve\r\nBcc: evil@example.com", "consent": True}, "name"),
        ({"email": "v@example.org", "name": "Eve\nX", "consent": True}, "name"),
        ({"email": "v@example.org", "name": "x" * 201, "consent": True}, "name"),
        ({"email": "v@example.org", "name": 7, "consent": True}, "name"),
        ({"email": "v@example.org", "consent": True, "note": "a\u0007b"}, "note"),
        ({"email": "v@example.org", "consent": True, "transcript_on_close": "yes"}, "transcript_on_close"),
        ({"email": "'; DROP TABLE dialogs; --@x.org", "consent": True}, "email"),
    ]
    for body, field in cases:
        r = m.contact(did, tok, body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["code"] == "validation_failed" and err["field"] == field, (body, err)
    r = m.api.s.post(f"/api/widget/dialogs/{did}/contact", data="{not json",
                     headers={"X-Visitor-Token": tok, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert m.contact(did, None, {"email": "v@example.org", "consent": True}).status_code == 401
    other, otok = m.dialog(email=None)
    assert m.contact(did, otok, {"email": "v@example.org", "consent": True}).status_code == 403
    assert m.pg.sql("SELECT count(*) FROM dialog_contacts WHERE dialog_id = %s", did) == [(0,)]
    # a good one, with a non-ASCII name; operators (and the visitor) see a system line
    r = m.contact(did, tok, {"email": "v@example.org", "name": "Zoë ☃", "consent": True})
    assert r.status_code == 200 and r.json()["email"] == "v@example.org"
    msgs = m.api.messages(m.people["token"], did).json()
    assert any(x["sender"] == "system" and "v@example.org" in x["text"] for x in msgs)
    j = m.api.op(m.people["token"]).get(f"/api/dialogs/{did}/mail").json()
    assert j["contact"]["email"] == "v@example.org" and j["contact"]["name"] == "Zoë ☃"
    assert j["contact"]["consent_at"]


def test_read_and_transcript_and_resume_refuse_bad_input(m):
    did, tok = m.dialog(email=None)
    for body in ({"seq": -1}, {"seq": "3"}, {}, {"seq": 1.5}):
        r = m.widget(did, tok, "read", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == "seq", (body, r.text)
    assert m.widget(did, "x" * 43, "read", json={"seq": 1}).status_code == 403
    r = m.widget(did, tok, "transcript")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_contact"
    for body, field in (({"resume_token": "abc"}, "dialog_id"), ({"dialog_id": "1", "resume_token": "abc"}, "dialog_id"),
                        ({"dialog_id": did}, "resume_token"), ({"dialog_id": did, "resume_token": "x" * 300}, "resume_token"),
                        ({"dialog_id": did, "resume_token": 5}, "resume_token")):
        r = m.api.s.post("/api/widget/resume", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (body, r.text)
    for token in ("' OR 1=1 --", "A" * 43, "short"):
        r = m.api.s.post("/api/widget/resume", json={"dialog_id": did, "resume_token": token})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text


def test_read_moves_forward_only_and_operators_see_it(m):
    did, tok = m.dialog()
    m.reply(did, "first")
    last = m.pg.sql("SELECT last_seq FROM dialogs WHERE id = %s", did)[0][0]
    assert m.widget(did, tok, "read", json={"seq": 10 ** 9}).status_code == 204
    assert m.widget(did, tok, "read", json={"seq": 0}).status_code == 204
    j = m.api.op(m.people["token"]).get(f"/api/dialogs/{did}/mail").json()
    assert j["visitor_read_seq"] == last  # never past the last message, never back
    assert m.api.op(m.people["token"]).get("/api/dialogs/999999999/mail").status_code == 404
    assert m.api.s.get(f"/api/dialogs/{did}/mail").status_code == 401


# ---- reply mails and resume ----------------------------------------------------------


def test_reply_mail_holds_unseen_replies_and_resume_link_opens_the_dialog(m):
    did, tok = m.dialog(email="reader@example.org")
    m.reply(did, "Your parcel left today.")
    m.reply(did, "Tracking number: 12345.")
    m.send(CHATAI_MAIL_REPLY_DELAY=3600)
    assert m.to("reader@example.org") == []  # not yet: the delay has not passed
    m.send()
    mails = m.to("reader@example.org")
    assert len(mails) == 1, [x["msg"]["Subject"] for x in m.smtp.mails]
    mail = mails[0]
    assert "Shop helper" in mail["msg"]["Subject"]
    assert mail["msg"]["From"].addresses[0].addr_spec == FROM
    text = text_of(m.smtp, mail)
    assert "Your parcel left today." in text and "Tracking number: 12345." in text
    link = re.search(re.escape(PUBLIC) + r"/#chatai-resume=(\d+)\.([A-Za-z0-9_-]{43})", text)
    assert link and int(link.group(1)) == did
    assert [r[1] for r in m.rows(did)] == ["sent"]
    m.send()
    assert len(m.to("reader@example.org")) == 1  # never twice
    # the stored token is a hash, never the token itself
    assert m.pg.sql("SELECT count(*) FROM resume_tokens WHERE token_hash = %s", link.group(2)) == [(0,)]
    r = m.api.s.post("/api/widget/resume", json={"dialog_id": did, "resume_token": link.group(2)})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["dialog_id"] == did and j["assistant_id"] == m.people["assistant"] and j["visitor_token"] != tok
    r = m.api.visitor_messages(did, j["visitor_token"])
    assert r.status_code == 200, r.text
    assert m.api.visitor_messages(did, tok).status_code == 200  # the first browser keeps the dialog
    msgs = r.json()
    assert any(x["text"] == "Tracking number: 12345." for x in msgs)
    assert m.api.visitor_post(did, j["visitor_token"], "Thanks!").status_code in (200, 201)
    # the right token for another dialog, or an expired one: 404
    other, _ = m.dialog(email=None)
    r = m.api.s.post("/api/widget/resume", json={"dialog_id": other, "resume_token": link.group(2)})
    assert r.status_code == 404
    m.pg.sql("UPDATE resume_tokens SET expires_at = now() - interval '1 second' WHERE dialog_id = %s", did)
    r = m.api.s.post("/api/widget/resume", json={"dialog_id": did, "resume_token": link.group(2)})
    assert r.status_code == 404
    # operators see the mail's state per reply
    mails = m.api.op(m.people["token"]).get(f"/api/dialogs/{did}/mail").json()["mails"]
    assert mails[0]["kind"] == "reply" and mails[0]["state"] == "sent"


def test_a_read_reply_is_not_mailed(m):
    did, tok = m.dialog(email="seen@example.org")
    msg = m.reply(did, "You will have seen this.")
    seq = (msg.get("message") or msg)["seq"]
    assert m.widget(did, tok, "read", json={"seq": seq}).status_code == 204
    m.send()
    assert m.to("seen@example.org") == []
    assert [r[1] for r in m.rows(did)] == ["skipped"]


def test_no_contact_no_reply_mail(m):
    did, tok = m.dialog(email=None)
    m.reply(did, "Nobody to mail this to.")
    m.send()
    assert m.smtp.mails == [] and m.rows(did) == []


def test_only_replies_the_visitor_sees_queue_reply_mail(m):
    """messages_mail's WHEN (sql/008_triggers.sql): with a contact, the visitor's own
    messages, an operator joining (a system event) and a private note queue nothing; the
    operator's reply queues one reply mail."""
    did, tok = m.dialog(email="only-replies@example.org")
    op = m.api.op(m.people["token"])
    assert m.api.visitor_post(did, tok, "Is anyone there?").status_code in (200, 201)
    assert op.post(f"/api/dialogs/{did}/takeover").status_code == 200
    assert op.post(f"/api/dialogs/{did}/notes", json={"text": "regular customer"}).status_code == 201
    assert m.api.visitor_post(did, tok, "Hello?").status_code in (200, 201)
    m.pg.sql("UPDATE operators SET last_seen_at = NULL")
    assert m.rows(did) == []
    msg = m.reply(did, "Yes, here I am.")
    seq = (msg.get("message") or msg)["seq"]
    assert [(r[0], r[1], r[3], r[4]) for r in m.rows(did)] == [("reply", "queued", seq, seq)]


# ---- operator alerts -------------------------------------------------------------------


def test_alert_digest_once_per_dialog(m):
    a, atok = m.dialog(email=None)
    b, btok = m.dialog(email=None)
    for did, tok in ((a, atok), (b, btok)):
        assert m.api.visitor_post(did, tok, "I need a person").status_code in (200, 201)
        assert m.widget(did, tok, "handoff").status_code == 200
    m.send(CHATAI_MAIL_ALERT_DELAY=3600)
    assert m.smtp.mails == []
    m.send()
    alerts = m.to("boss@shop.test.example")
    assert len(alerts) == 1, [x["msg"]["Subject"] for x in m.smtp.mails]
    text = text_of(m.smtp, alerts[0])
    assert f"{PUBLIC}/admin/#dialog-{a}" in text and f"{PUBLIC}/admin/#dialog-{b}" in text
    assert "Shop helper" in alerts[0]["msg"]["Subject"] and "2 visitors" in alerts[0]["msg"]["Subject"]
    m.send()
    assert len(m.to("boss@shop.test.example")) == 1  # once per dialog
    c, ctok = m.dialog(email=None)
    assert m.widget(c, ctok, "handoff").status_code == 200
    m.send(CHATAI_MAIL_ALERT_TO="desk@shop.test.example, night@shop.test.example")
    later = m.to("desk@shop.test.example")
    assert len(later) == 1 and "night@shop.test.example" in later[0]["rcpt"]
    assert f"#dialog-{c}" in text_of(m.smtp, later[0]) and f"#dialog-{a}" not in text_of(m.smtp, later[0])


def test_no_alert_while_an_operator_is_online_or_when_taken(m):
    did, tok = m.dialog(email=None)
    assert m.widget(did, tok, "handoff").status_code == 200
    m.pg.sql("UPDATE operators SET last_seen_at = now()")
    m.send()
    assert m.smtp.mails == [] and [r[1] for r in m.rows(did)] == ["queued"]
    assert m.api.op(m.people["token"]).post(f"/api/dialogs/{did}/takeover").status_code == 200
    m.pg.sql("UPDATE operators SET last_seen_at = NULL")
    m.send()
    assert m.smtp.mails == [] and [r[1] for r in m.rows(did)] == ["skipped"]


# ---- transcripts ----------------------------------------------------------------------


def test_transcript_on_request_rate_limited_and_on_close(m):
    did, tok = m.dialog(email="log@example.org")
    assert m.api.visitor_post(did, tok, "Where is my order?").status_code in (200, 201)
    m.reply(did, "On its way.")
    assert m.widget(did, tok, "read", json={"seq": 100}).status_code == 204
    r = m.widget(did, tok, "transcript")
    assert r.status_code == 202, r.text
    assert m.widget(did, tok, "transcript").status_code == 202  # same point: one mail
    m.send()
    mails = m.to("log@example.org")
    assert len(mails) == 1 and "Shop helper" in mails[0]["msg"]["Subject"]
    text = text_of(m.smtp, mails[0])
    assert "Where is my order?" in text and "On its way." in text
    assert m.widget(did, tok, "transcript").status_code == 202
    r = m.widget(did, tok, "transcript")
    assert r.status_code == 429 and r.headers.get("Retry-After")
    # asked for on close
    d2, t2 = m.dialog(email="close@example.org", transcript_on_close=True)
    assert m.api.visitor_post(d2, t2, "bye").status_code in (200, 201)
    assert m.api.op(m.people["token"]).post(f"/api/dialogs/{d2}/close").status_code == 200
    m.send()
    mails = m.to("close@example.org")
    assert len(mails) == 1 and "bye" in text_of(m.smtp, mails[0])


# ---- delivery: retries, failures, crash ---------------------------------------------------


def test_4xx_retries_with_backoff_then_sends(m):
    did = m.asked("later@example.org")
    m.smtp.mode = "4xx"
    m.send()
    (kind, state, attempts, _, _, err, later), = m.rows(did)
    assert (state, attempts, later) == ("queued", 1, True) and "451" in err
    m.pg.sql("UPDATE mail_outbox SET next_at = now() WHERE dialog_id = %s", did)
    m.send()
    assert m.pg.sql("SELECT attempts, next_at > now() + interval '100 seconds' FROM mail_outbox"
                    " WHERE dialog_id = %s", did) == [(2, True)]  # the wait doubled
    m.smtp.mode = None
    m.send()
    assert m.to("later@example.org") == []  # still waiting out the backoff
    m.pg.sql("UPDATE mail_outbox SET next_at = now() WHERE dialog_id = %s", did)
    m.send()
    assert len(m.to("later@example.org")) == 1 and [r[1] for r in m.rows(did)] == ["sent"]
    cp = harness.run_ctl(m.pg.url, "mail", "--status", env=mail_env(m.smtp), check=False)
    assert "last success" in cp.stdout and "451" in cp.stdout


def test_5xx_fails_after_n_tries(m):
    did = m.asked("gone@example.org")
    m.smtp.mode = "5xx"
    states = []
    for _ in range(3):
        m.pg.sql("UPDATE mail_outbox SET next_at = now() WHERE dialog_id = %s", did)
        m.send()
        states.append(m.rows(did)[0][1])
    assert states == ["queued", "queued", "failed"]
    assert "550" in m.rows(did)[0][5]
    m.smtp.mode = None
    m.pg.sql("UPDATE mail_outbox SET next_at = now() WHERE dialog_id = %s", did)
    m.send()
    assert m.smtp.mails == []
    j = m.api.op(m.people["token"]).get(f"/api/dialogs/{did}/mail").json()
    assert j["mails"][0]["state"] == "failed" and "550" in j["mails"][0]["error"]


def test_exactly_once_when_the_sender_is_killed_mid_batch(m):
    dialogs = []
    for i in range(3):
        dialogs.append(m.asked(f"batch{i}@example.org"))
    m.smtp.hold_nth = 2  # the server takes mail 2, then holds its "250"
    env = harness.base_env({"CHATAI_DATABASE_URL": m.pg.url, **mail_env(m.smtp)})
    p = subprocess.Popen([str(harness.binary("chatai-ctl")), "mail", "--once"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert m.smtp.held.wait(20), "the sender never reached the second mail"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # its database session ends with it, and with it the row's lock
    harness.wait_until(lambda: m.pg.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)],
                       timeout=10, message="the killed sender's locks to go")
    m.smtp.hold_nth = 0
    m.send()
    m.send()
    for i, did in enumerate(dialogs):
        assert len(m.to(f"batch{i}@example.org")) == 1, (i, m.rows(did))
    states = sorted(m.rows(did)[0][1] for did in dialogs)
    assert states == ["sent", "sent", "uncertain"]
    j = m.api.op(m.people["token"]).get(f"/api/dialogs/{dialogs[1]}/mail").json()
    assert j["mails"][0]["state"] == "uncertain"


# ---- header injection -----------------------------------------------------------------


def test_header_injection_is_impossible(m):
    bad = "Shop\r\nBcc: evil@example.com\r\nSubject: pwned"
    m.pg.sql("UPDATE assistants SET name = %s WHERE id = %s", bad, m.people["assistant"])
    try:
        did, tok = m.dialog(email="target@example.org", name="Vera")
        m.reply(did, "line one\r\nBcc: evil2@example.com\r\n.\r\nQUIT\r\n")
        m.send()
    finally:
        m.pg.sql("UPDATE assistants SET name = 'Shop helper' WHERE id = %s", m.people["assistant"])
    assert len(m.smtp.mails) == 1
    mail = m.smtp.mails[0]
    assert mail["rcpt"] == ["target@example.org"]
    msg = mail["msg"]
    assert msg["Bcc"] is None and len(msg.get_all("Subject")) == 1 and "pwned" != str(msg["Subject"])
    raw = mail["raw"].decode("ascii")
    head = raw.split("\r\n\r\n", 1)[0]
    assert "evil" not in head and "Bcc" not in head
    assert "QUIT" in text_of(m.smtp, mail)  # the text arrived as text


# ---- mail off, the daemon ----------------------------------------------------------------


def test_mail_off_when_smtp_url_is_unset(m, stack, assistant):
    api = harness.Api(stack.url)
    assert api.s.get(f"/api/widget/assistants/{assistant}").json()["mail"] is False
    did, tok, _ = api.create_dialog(assistant)
    r = api.s.post(f"/api/widget/dialogs/{did}/contact", json={"email": "v@example.org", "consent": True},
                   headers={"X-Visitor-Token": tok})
    assert r.status_code == 409 and r.json()["error"]["code"] == "mail_off"
    assert m.api.s.get(f"/api/widget/assistants/{m.people['assistant']}").json()["mail"] is True
    d2, t2 = m.dialog(email="off@example.org")
    assert m.widget(d2, t2, "transcript").status_code == 202
    cp = harness.run_ctl(m.pg.url, "mail", "--once")
    assert "mail is off" in cp.stderr and m.smtp.mails == []
    assert [r[1] for r in m.rows(d2)] == ["queued"]


def test_the_ai_worker_sends_mail(m):
    did = m.asked("daemon@example.org")
    ai = harness.AiWorker(m.pg, env=mail_env(m.smtp)).start()
    try:
        harness.wait_until(lambda: m.to("daemon@example.org"), timeout=15, message="the worker's mail")
    finally:
        ai.stop()
    assert [r[1] for r in m.rows(did)] == ["sent"]


def test_notifier_health_and_metrics_show_mail(m):
    did = m.asked("health@example.org")
    n = harness.Notifier(m.pg, env=mail_env(m.smtp)).start()
    try:
        import requests
        h = harness.wait_until(lambda: (lambda j: j if j["mail"].get("queued") is not None else None)(
            requests.get(f"{n.url}/health", timeout=5).json()), timeout=15, message="mail in /health")
        assert h["mail"]["enabled"] is True and h["mail"]["queued"] >= 1
        m.send()
        assert len(m.to("health@example.org")) == 1
        metrics = requests.get(f"{n.url}/metrics", timeout=5).text
        assert "chatai_notifier_mail_enabled 1" in metrics and "chatai_notifier_mail_queue" in metrics
    finally:
        n.stop()
    cp = harness.run_ctl(m.pg.url, "check", env=mail_env(m.smtp), check=False)
    line = [x for x in cp.stdout.splitlines() if " mail: " in x]
    assert line and "last success 20" in line[0], cp.stdout


def test_check_and_the_sender_refuse_incomplete_mail_settings(m):
    for over, key in (({"CHATAI_MAIL_FROM": "not an address"}, "mail_from"),
                      ({"CHATAI_PUBLIC_URL": "shop.example"}, "public_url"),
                      ({"CHATAI_SMTP_URL": "http://127.0.0.1:25"}, "smtp_url"),
                      ({"CHATAI_MAIL_ALERT_TO": "a@example.org, nope"}, "mail_alert_to")):
        cp = harness.run_ctl(m.pg.url, "check", env=mail_env(m.smtp, **over), check=False)
        assert cp.returncode == 1 and f"mail: off: setting {key}" in cp.stdout, cp.stdout
        cp = m.send(check=False, **over)
        assert cp.returncode == 1 and "a mail setting is wrong" in cp.stderr


def test_inline_path_sends_when_no_worker_runs(m, tmp_path):
    """With no chatai-ai and no cron, chatai.fcgi sends after the request that asked."""
    s = harness.Stack(tmp_path / "inline", notifier=False, ai=False, pg=m.pg,
                      env={**mail_env(m.smtp), "CHATAI_FCGI_INLINE_AI": "on", "CHATAI_RATE_LIMIT_DIALOGS": 0})
    try:
        api = harness.Api(s.url)
        did, tok, _ = api.create_dialog(m.people["assistant"])
        h = {"X-Visitor-Token": tok}
        assert api.s.post(f"/api/widget/dialogs/{did}/contact", json={"email": "inline@example.org", "consent": True},
                          headers=h).status_code == 200
        assert api.s.post(f"/api/widget/dialogs/{did}/transcript", headers=h).status_code == 202
        harness.wait_until(lambda: m.to("inline@example.org"), timeout=15, message="the inline mail")
        assert [r[1] for r in m.rows(did)] == ["sent"]
        # a reply mail has no request of its own: any request looks at the outbox (every 30 s)
        m.reply(did, "Answered while you were away.")
        harness.wait_until(lambda: api.s.get(f"/api/widget/assistants/{m.people['assistant']}") and
                           len(m.to("inline@example.org")) == 2, timeout=45, interval=1, message="the reply mail")
    finally:
        s.stop()
    assert "Answered while you were away." in text_of(m.smtp, m.to("inline@example.org")[1])


def test_concurrent_senders_send_each_mail_once(m):
    dialogs = [m.asked(f"race{i}@example.org") for i in range(8)]
    env = harness.base_env({"CHATAI_DATABASE_URL": m.pg.url, "CHATAI_LOG_LEVEL": "warn", **mail_env(m.smtp)})
    procs = [subprocess.Popen([str(harness.binary("chatai-ctl")), "mail", "--once"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(3)]
    for p in procs:
        assert p.wait(60) == 0
    for i, did in enumerate(dialogs):
        assert len(m.to(f"race{i}@example.org")) == 1, i
        assert [r[1] for r in m.rows(did)] == ["sent"]
