# SPDX-License-Identifier: MIT
"""The shared host in a real browser: no notifier, no AI daemon, and a server that asks for
short polling (fcgi_poll_mode = short, as under CGI and mod_fcgid) and answers the
assistant's jobs inside the visitor's request (fcgi_inline_ai = on). The widget and the panel
poll without waiting, about every second while the conversation is active, and at once after
sending; the assistant answers from the knowledge base with no daemon."""

import re
import time

import harness
from pages import AdminPage, WidgetPage, wait_for

SHORT = {"CHATAI_FCGI_POLL_MODE": "short", "CHATAI_FCGI_INLINE_AI": "on"}


def test_widget_and_panel_short_poll_and_the_assistant_answers_without_daemon(make_stack, browser, artifacts):
    s = make_stack(notifier=False, ai=False, env=SHORT)
    aid = harness.make_assistant(s.pg, "Shop bot", greeting="Hi! Ask me about shipping.")
    answer = "Yes, we ship to Norway; delivery takes 4 business days."
    harness.add_knowledge(s.pg, aid, [("Do you ship to Norway?", answer)])
    harness.make_operator(s.pg, "op@short.example", "op-password-123", "Olga", "operator")
    token = harness.Api(s.url).login("op@short.example", "op-password-123")

    wd = browser()
    widget = WidgetPage(wd, s.url, aid).load()
    t0 = time.monotonic()
    widget.send("Do you ship to Norway?")
    widget.wait_text(answer, "ai", timeout=20)
    first_answer = time.monotonic() - t0
    saved = wait_for(widget.saved_dialog, message="dialog saved")
    dialog_id = saved["dialog_id"]
    wait_for(lambda: widget.state()["transport"] == "longpoll", timeout=40, message="widget polling")

    ad = browser()
    panel = AdminPage(ad, s.url).with_token(token, dialog_id)
    panel.wait_text(answer, "ai", timeout=40)
    panel.wait_connection("Polling mode", "longpoll", timeout=40)
    time.sleep(2)  # both are polling now, at the active pace

    # operator -> widget, visitor -> panel: within the active interval (1 s) + a request
    t0 = time.monotonic()
    panel.reply("operator here")
    widget.wait_text("operator here", "manager", timeout=10)
    down = time.monotonic() - t0
    t0 = time.monotonic()
    widget.send("thanks!")
    panel.wait_text("thanks!", "user", timeout=10)
    up = time.monotonic() - t0
    ad.save_screenshot(str(artifacts / "panel-short-polling.png"))
    print(f"\nshort polling in Chromium: first answer (dialog creation, inline answer) {first_answer:.2f} s, "
          f"operator -> widget {down:.2f} s, visitor -> panel {up:.2f} s")
    assert down < 2.5 and up < 2.5, (down, up)

    # every poll of the widget went out without waiting on the server
    conf = s.web.server_conf.read_text()
    access = re.search(r'accesslog\.filename\s*=\s*"([^"]+)"', conf).group(1)
    log = open(access).read()
    polls = re.findall(rf"GET /api/widget/dialogs/{dialog_id}/messages\?[^ ]*", log)
    assert polls, log[-2000:]
    assert all("wait=0" in p for p in polls), [p for p in polls if "wait=0" not in p][:5]
    ai_jobs = s.pg.sql("SELECT locked_by FROM answer_jobs WHERE dialog_id = %s", dialog_id)
    assert ai_jobs and all(r[0].endswith(":fcgi") for r in ai_jobs), ai_jobs
