# SPDX-License-Identifier: MIT
"""Issue 12 item 5: the widget and the operator panel open their streams with single-use
tickets, never with a token in the URL: after they have talked over WebSocket and over SSE,
no log of the stack (web server access and error logs, notifier, chatai.fcgi) holds the
visitor's or the operator's token."""

from pathlib import Path

import harness
from pages import AdminPage, WidgetPage, wait_for


def _logs(stack):
    files = [p for p in Path(stack.pg.tmpdir).rglob("*.log") if p.is_file()]
    return {p: p.read_text(errors="replace") for p in files}


def _talk(s, browser, sse_only=False):
    aid = harness.make_assistant(s.pg, "Ticket assistant", greeting="Hello")
    harness.make_operator(s.pg, "tickets@browser.example", "tickets-password-1", "Tia", "operator")
    token = harness.Api(s.url).login("tickets@browser.example", "tickets-password-1")
    wd = browser()
    widget = WidgetPage(wd, s.url, aid).load()
    widget.send("hello with a ticket")
    saved = wait_for(widget.saved_dialog, message="dialog saved")
    want = "sse" if sse_only else "ws"
    wait_for(lambda: widget.state()["transport"] == want and widget.state()["connection"] == "connected",
             timeout=30, message=f"widget on {want}", show=widget.state)
    ad = browser()
    panel = AdminPage(ad, s.url).with_token(token, saved["dialog_id"])
    panel.wait_connection("Real-time connected", want)
    panel.wait_text("hello with a ticket", "user")
    panel.reply("answer over a ticketed stream")
    widget.wait_text("answer over a ticketed stream", "manager")
    return token, saved["visitor_token"]


def test_widget_and_panel_keep_tokens_out_of_every_log(make_stack, browser):
    s = make_stack()
    token, vt = _talk(s, browser)
    s.stop()
    logs = _logs(s)
    access = [p for p in logs if "access" in p.name]
    assert access and any("/api/stream-tickets" in logs[p] for p in access), list(logs)
    for p, text in logs.items():
        assert token not in text, f"{p.name} holds the operator's token"
        assert vt not in text, f"{p.name} holds the visitor's token"
    notifier = "".join(t for p, t in logs.items() if "notifier" in p.name)
    assert "ticket=***" in notifier and "token=***" not in notifier


def test_over_sse_too(make_no_ws_stack, browser):
    s = make_no_ws_stack()
    token, vt = _talk(s, browser, sse_only=True)
    s.stop()
    for p, text in _logs(s).items():
        assert token not in text and vt not in text, f"{p.name} holds a token"
