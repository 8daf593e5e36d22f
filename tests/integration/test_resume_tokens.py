# SPDX-License-Identifier: MIT
"""Issue 15: a resume from a mail link adds a visitor token to the dialog
(dialog_visitor_tokens) instead of replacing it, so the browser that began the
dialog keeps it. Both tokens open REST history, posting, stream tickets, SSE and
WebSocket; a message from either is in both histories, an operator's reaches both
browsers' streams live; forged, expired and foreign resume tokens
are still 404, and every wrong resume token answers in the same time.
"""

import hashlib
import secrets
import statistics
import time
import urllib.parse

import pytest

import harness
from notifier_fixtures import SseClient, WsClient, WsClosed

pytestmark = pytest.mark.skipif(
    not (harness.have_binary("chatai-notifier") and harness.have_binary("chatai.fcgi")),
    reason="chatai-notifier and chatai.fcgi must be built")


@pytest.fixture(scope="module")
def rs(pg, tmp_path_factory):
    """A stack with the notifier, the REST auth cache on (its default) and no rate limits
    (the timing test makes 120 resume tries)."""
    s = harness.Stack(tmp_path_factory.mktemp("resume"), notifier=True, ai=False, pg=pg,
                      env={"CHATAI_RATE_LIMIT_DIALOGS": 0, "CHATAI_RATE_LIMIT_MESSAGES": 0})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def people(rs):
    harness.make_operator(rs.pg, "res@test.example", "resume-password-1", "Res", "admin")
    return {"assistant": harness.make_assistant(rs.pg, "Resume assistant", greeting="Hi"),
            "token": harness.Api(rs.url).login("res@test.example", "resume-password-1")}


def sha(t):
    return hashlib.sha256(t.encode()).hexdigest()


def resume_token(pg, did, expired=False):
    """A resume token for did as a reply mail carries it (stored hashed)."""
    t = secrets.token_urlsafe(32)
    pg.sql("INSERT INTO resume_tokens (token_hash, dialog_id, expires_at) VALUES (%s, %s, now() + %s::interval)",
           sha(t), did, "-1 second" if expired else "30 days")
    return t


def resume(api, did, t):
    return api.s.post("/api/widget/resume", json={"dialog_id": did, "resume_token": t})


def q(**kw):
    return urllib.parse.urlencode(kw)


def streams(api, did, aid, vt):
    """An SSE stream and a WebSocket of the widget for token vt (the WebSocket by a ticket
    asked for with vt, so that path is covered too)."""
    sse = SseClient(f"{api.base_url}/sse/widget/dialogs/{did}?{q(assistant_id=aid, visitor_token=vt)}")
    assert sse.status == 200, sse.body
    r = api.s.post(f"/api/widget/dialogs/{did}/stream-tickets", headers={"X-Visitor-Token": vt})
    assert r.status_code == 201, r.text
    ws = WsClient(f"{api.ws_base}/ws/widget/dialogs/{did}?{q(assistant_id=aid, ticket=r.json()['ticket'])}")
    ws.expect_silence(0.3)  # open, authenticated, nothing yet
    ws2 = WsClient(f"{api.ws_base}/ws/widget/dialogs/{did}?{q(assistant_id=aid)}")
    ws2.send_json({"type": "auth", "visitor_token": vt})
    ws2.expect_silence(0.3)
    return sse, ws, ws2


def got(sse, ws, ws2, text):
    """Each of the three streams delivers the message with this text."""
    ev = {}
    while ev.get("text") != text:
        _, ev = sse.next_event(10)
    for c in (ws, ws2):
        ev = c.recv(10)
        while ev.get("text") != text:
            ev = c.recv(10)


def ws_refused(url, code, first=None):
    c = WsClient(url)
    if first:
        c.send_json(first)
    try:
        while True:
            c.recv(10)
    except WsClosed as e:
        assert e.code == code, (e.code, e.reason)


def test_a_resume_keeps_the_first_browser(rs, people):
    api = harness.Api(rs.url)
    aid = people["assistant"]
    did, vt1, _ = api.create_dialog(aid)
    assert api.visitor_post(did, vt1, "from the first browser").status_code == 201
    assert api.visitor_messages(did, vt1).status_code == 200  # vt1 now in chatai.fcgi's cache
    r = resume(api, did, resume_token(rs.pg, did))
    assert r.status_code == 200, r.text
    vt2 = r.json()["visitor_token"]
    assert vt2 != vt1 and r.json()["dialog_id"] == did
    rows = rs.pg.sql("SELECT token_hash, resumed FROM dialog_visitor_tokens WHERE dialog_id = %s ORDER BY created_at",
                     did)
    assert rows == [(sha(vt1), False), (sha(vt2), True)]
    # REST history with either token, the same conversation
    for vt in (vt1, vt2):
        r = api.visitor_messages(did, vt)
        assert r.status_code == 200, r.text
        assert "from the first browser" in [m["text"] for m in r.json()]
    # streams for both browsers: SSE, WebSocket by ticket and by first-message auth
    one, two = streams(api, did, aid, vt1), streams(api, did, aid, vt2)
    try:
        assert api.visitor_post(did, vt1, "one speaks").status_code == 201
        assert api.visitor_post(did, vt2, "two speaks").status_code == 201
        # the site channel carries no visitor message (docs/api.md): each browser sees the
        # other's in the history, which the widget reads when a hole in the seqs shows
        for vt in (vt1, vt2):
            texts = [m["text"] for m in api.visitor_messages(did, vt).json()]
            assert texts[-2:] == ["one speaks", "two speaks"], texts
        assert api.operator_post(people["token"], did, "the operator answers").status_code == 201
        got(*one, "the operator answers")
        got(*two, "the operator answers")
    finally:
        for c in (*one, *two):
            c.close()
    said = ["one speaks", "two speaks", "the operator answers"]
    assert [m["text"] for m in api.messages(people["token"], did).json() if m.get("text") in said] == said
    # a second resume adds a third token; all three work
    vt3 = resume(api, did, resume_token(rs.pg, did)).json()["visitor_token"]
    assert all(api.visitor_messages(did, vt).status_code == 200 for vt in (vt1, vt2, vt3))


def test_other_tokens_still_refused(rs, people):
    api = harness.Api(rs.url)
    aid = people["assistant"]
    did, vt1, _ = api.create_dialog(aid)
    other, ovt, _ = api.create_dialog(aid)
    vt2 = resume(api, did, resume_token(rs.pg, did)).json()["visitor_token"]
    # another dialog's tokens, resumed or not, and a made-up one
    ovt2 = resume(api, other, resume_token(rs.pg, other)).json()["visitor_token"]
    for bad in (ovt, ovt2, secrets.token_urlsafe(32)):
        assert api.visitor_messages(did, bad).status_code == 403
        assert api.visitor_post(did, bad, "no").status_code == 403
        s = SseClient(f"{api.base_url}/sse/widget/dialogs/{did}?{q(assistant_id=aid, visitor_token=bad)}")
        assert s.status == 401, s.body
        ws_refused(f"{api.ws_base}/ws/widget/dialogs/{did}?{q(assistant_id=aid, visitor_token=bad)}", 4401)
    # a resumed token opens its own dialog only, here and at the notifier
    assert api.visitor_messages(other, vt2).status_code == 403
    ws_refused(f"{api.ws_base}/ws/widget/dialogs/{other}?{q(assistant_id=aid)}", 4401,
               {"type": "auth", "visitor_token": vt2})
    # forged, expired and foreign resume tokens: 404, and no token is added
    before = rs.pg.sql("SELECT count(*) FROM dialog_visitor_tokens")
    for did_, t in ((did, secrets.token_urlsafe(32)), (did, resume_token(rs.pg, did, expired=True)),
                    (did, resume_token(rs.pg, other)), (did, "not a token\r\n'; --"), (10 ** 12, vt1)):
        r = resume(api, did_, t)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert rs.pg.sql("SELECT count(*) FROM dialog_visitor_tokens") == before


def replace_first_token(rs, api, did, old):
    """A new dialogs.visitor_token_hash while chatai.fcgi has the old first token cached:
    the old one is refused within 5 s (the cache forgets it at commit), the new one opens
    the dialog. The new token."""
    assert api.visitor_messages(did, old).status_code == 200  # cached now
    new = secrets.token_urlsafe(32)
    rs.pg.sql("UPDATE dialogs SET visitor_token_hash = %s WHERE id = %s", sha(new), did)
    harness.wait_until(lambda: api.visitor_messages(did, old).status_code == 403, timeout=5,
                       message="the replaced token: refused")
    assert api.visitor_messages(did, new).status_code == 200
    return new


def test_changing_the_first_token_leaves_the_resumed_ones(rs, people):
    """dialogs.visitor_token_hash is the dialog's first token: setting it replaces that
    token only (and chatai.fcgi's cache forgets the old one at commit)."""
    api = harness.Api(rs.url)
    did, vt1, _ = api.create_dialog(people["assistant"])
    vt2 = resume(api, did, resume_token(rs.pg, did)).json()["visitor_token"]
    replace_first_token(rs, api, did, vt1)
    assert api.visitor_messages(did, vt2).status_code == 200


def test_the_token_rows_open_the_dialog(rs, people):
    """dialog_visitor_tokens is what opens a dialog: a new dialogs.visitor_token_hash
    replaces the first token's row (the trigger dialogs_token_changed), and a row removed
    refuses its token at once (the REST caches forget it at commit)."""
    api = harness.Api(rs.url)
    did, vt1, _ = api.create_dialog(people["assistant"])
    vt2 = replace_first_token(rs, api, did, vt1)
    assert rs.pg.sql("SELECT token_hash FROM dialog_visitor_tokens WHERE dialog_id = %s", did) == [(sha(vt2),)]
    rs.pg.sql("DELETE FROM dialog_visitor_tokens WHERE dialog_id = %s", did)
    harness.wait_until(lambda: api.visitor_messages(did, vt2).status_code == 403, timeout=5,
                       message="no token row: refused")


def test_every_wrong_resume_token_takes_the_same_time(rs, people):
    """Unknown dialog, known dialog with a wrong token, an expired token, a malformed
    token: interleaved samples, compared by their medians (robust to a busy machine)."""
    api = harness.Api(rs.url)
    did, _, _ = api.create_dialog(people["assistant"])
    expired = resume_token(rs.pg, did, expired=True)
    cases = {
        "unknown dialog": lambda: (10 ** 12, secrets.token_urlsafe(32)),
        "wrong token": lambda: (did, secrets.token_urlsafe(32)),
        "expired": lambda: (did, expired),
        "malformed": lambda: (did, "%%%% not base64 \u00e9"),
    }
    times = {k: [] for k in cases}
    for _ in range(3):  # warm up the connection and the server's prepared statements
        for make in cases.values():
            resume(api, *make())
    for _ in range(30):
        for k, make in cases.items():
            d, t = make()
            t0 = time.perf_counter()
            r = resume(api, d, t)
            times[k].append(time.perf_counter() - t0)
            assert r.status_code == 404, (k, r.status_code, r.text)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    spread = max(med.values()) - min(med.values())
    print(f"median ms per wrong resume token: {med}")
    assert spread < 3.0, f"median ms per case: {med}"
