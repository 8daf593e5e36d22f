# SPDX-License-Identifier: MIT
"""Issue 13, "one home per rule": "operators online" has one definition,
chatai_operators_online() (sql/003_auth.sql), asked by the widget (operators_online)
and by the assistant's offline notice. Before, the notice asked a second rule (seen in the
last 2 minutes, no session needed): right after a logout the widget said "offline" while
a handoff got no offline notice.
"""

import pytest

import harness

pytestmark = pytest.mark.skipif(not harness.have_binary("chatai.fcgi"), reason="chatai.fcgi must be built")


def online_sql(pg):
    return pg.sql("SELECT chatai_operators_online()")[0][0]


def widget_online(api, aid):
    r = api.s.get(f"/api/widget/assistants/{aid}")
    assert r.status_code == 200, r.text
    return r.json()["operators_online"]


def events(pg, did):
    return [r[0] for r in pg.sql("SELECT event FROM messages WHERE dialog_id = %s AND sender = 'system' "
                                 "ORDER BY seq", did)]


def test_one_rule_for_the_widget_and_the_assistant(stack, api, admin):
    pg = stack.pg
    aid = harness.make_assistant(pg, "Presence")
    email = "presence-op@test.example"
    harness.make_operator(pg, email, "presence-password-1", "Pia")
    try:
        # Nobody else counts: the session's operators were seen long ago.
        pg.sql("UPDATE operators SET last_seen_at = now() - interval '1 hour'")
        assert online_sql(pg) is False and widget_online(api, aid) is False
        token = api.login(email, "presence-password-1")  # login marks the operator seen
        assert online_sql(pg) is True and widget_online(api, aid) is True
        # Online: a handoff gets no offline notice.
        did, vt, _ = api.create_dialog(aid)
        r = api.s.post(f"/api/widget/dialogs/{did}/handoff", headers={"X-Visitor-Token": vt})
        assert r.status_code == 200 and r.json()["status"] == "waiting", r.text
        assert events(pg, did) == ["handoff_requested"]
        # Logged out a second later: still "seen" in the last 2 minutes, but offline for both.
        assert api.op(token).post("/api/auth/logout").status_code == 204
        assert online_sql(pg) is False and widget_online(api, aid) is False
        assert pg.sql("SELECT chatai_ai_operators_online()")[0][0] is False  # the mail pass's name, same rule
        did, vt, _ = api.create_dialog(aid)
        r = api.s.post(f"/api/widget/dialogs/{did}/handoff", headers={"X-Visitor-Token": vt})
        assert r.status_code == 200 and r.json()["status"] == "waiting", r.text
        assert events(pg, did) == ["handoff_requested", "offline_notice"]
        # The window is 120 s: a live session seen 119 s ago counts, 121 s ago does not.
        token = api.login(email, "presence-password-1")
        pg.sql("UPDATE operators SET last_seen_at = now() - interval '119 seconds' WHERE email = %s", email)
        assert online_sql(pg) is True
        pg.sql("UPDATE operators SET last_seen_at = now() - interval '121 seconds' WHERE email = %s", email)
        assert online_sql(pg) is False
        # A revoked session (not a logout) ends presence too.
        pg.sql("UPDATE operators SET last_seen_at = now() WHERE email = %s", email)
        assert online_sql(pg) is True
        pg.sql("UPDATE sessions SET revoked_at = now() WHERE operator_id = "
               "(SELECT id FROM operators WHERE email = %s)", email)
        assert online_sql(pg) is False
    finally:
        pg.sql("DELETE FROM operators WHERE email = %s", email)
        pg.sql("UPDATE operators SET last_seen_at = now()")
