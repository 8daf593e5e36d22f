# SPDX-License-Identifier: MIT
"""The guide's manual checklist, automated end to end in headless Chromium against the real
stack: widget <-> operator panel, the AI's answers, fallbacks, resync, ordering, refresh,
several panels, hostile page CSS, XSS, CSP."""

import time

import pytest

import harness
from pages import AdminPage, WidgetPage, browser_log, console_errors, wait_for

XSS = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"


def _operator(stack, email="op@browser.example", password="op-password-123", name="Olga Operator"):
    harness.make_operator(stack.pg, email, password, name, "operator")
    return email, password, harness.Api(stack.url).login(email, password)


def _conversation(browser, url, aid, token, first):
    """A visitor's widget that sent first (so the dialog exists) and is connected, and an
    operator (token) whose panel shows it: (widget, panel, the dialog's id); their browsers
    are widget.drv and panel.drv."""
    widget = WidgetPage(browser(), url, aid).load()
    widget.send(first)
    dialog_id = _dialog_id(widget)
    wait_for(lambda: widget.state()["connection"] == "connected", message="widget connected")
    panel = AdminPage(browser(), url).with_token(token, dialog_id)
    panel.wait_text(first, "user")
    return widget, panel, dialog_id


def _dialog_id(widget):
    saved = wait_for(widget.saved_dialog, message="dialog saved in localStorage")
    return saved["dialog_id"]


def _csp_errors(drv):
    return [e for e in console_errors(drv) if "Content Security Policy" in e.get("message", "")]


def test_widget_and_panel_talk_in_real_time(stack, admin, assistant, browser, artifacts):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    st = widget.state()
    assert st["title"] == "Test assistant"
    # the greeting is shown before any dialog exists
    assert widget.texts("ai") == ["Hello! How can I help you?"]
    assert widget.saved_dialog() is None

    widget.send("Hi, where is my order 1234?")
    wait_for(lambda: any(m["text"] == "Hi, where is my order 1234?" and m["id"] for m in widget.state()["messages"]),
             message="the visitor's message stored")
    dialog_id = _dialog_id(widget)
    wait_for(lambda: widget.state()["connection"] == "connected", message="widget connected")
    assert widget.state()["transport"] == "ws"

    ad = browser()
    panel = AdminPage(ad, stack.url).login(admin["email"], admin["password"])
    panel.wait_connection("Real-time connected", "ws")
    panel.open_dialog(dialog_id)
    panel.wait_text("Hi, where is my order 1234?", "user")
    s = panel.state()
    assert "127.0.0.1" in s["page"] and "/demo/index.html" in s["page"]
    assert "Chrome" in s["browser"]

    # visitor types: the panel sees it; the visitor's next message arrives live
    widget.input().send_keys("and also")
    wait_for(lambda: panel.state()["typing"], message="visitor typing shown in the panel")
    widget.input().send_keys(" my invoice")
    from selenium.webdriver.common.keys import Keys
    widget.input().send_keys(Keys.ENTER)
    panel.wait_text("and also my invoice", "user")

    # operator types and replies: the widget sees both
    widget.record_typing()
    ad.find_element("id", "reply-input").send_keys("Let me check")
    wait_for(lambda: "manager" in widget.typing_seen(), message="operator typing shown in the widget")
    ad.find_element("id", "reply-input").send_keys(" that for you.")
    ad.find_element("id", "reply-input").send_keys(Keys.ENTER)
    widget.wait_text("Let me check that for you.", "manager")
    panel.wait_text("Let me check that for you.", "manager")
    # the reply took the dialog over: a system notice on both sides, status operator
    wait_for(lambda: any(n["event"] == "operator_joined" for n in widget.state()["notices"]),
             message="operator_joined notice in the widget")
    wait_for(lambda: panel.state()["status"] == "Operator", message="status Operator in the panel")
    assert not widget.state()["handoffVisible"]

    # nothing doubled anywhere
    for page in (widget, panel):
        ids = [m["id"] for m in page.state()["messages"]]
        assert len(ids) == len(set(ids)), ids
    wd.save_screenshot(str(artifacts / "widget-conversation.png"))
    ad.save_screenshot(str(artifacts / "panel-conversation.png"))

    # release and close: notices reach the widget, which then offers a new conversation
    ad.find_element("id", "btn-release").click()
    wait_for(lambda: any(n["event"] == "operator_left" for n in widget.state()["notices"]), message="operator_left")
    ad.find_element("id", "btn-close").click()
    wait_for(lambda: widget.state()["closedBar"], message="closed bar in the widget")
    wait_for(lambda: not ad.find_element("id", "reply-input").is_enabled(), message="reply box disabled when closed")
    wait_for(lambda: any(n["event"] == "dialog_closed" for n in widget.state()["notices"]), message="dialog_closed")
    assert _csp_errors(wd) == [] and _csp_errors(ad) == []


def test_handoff_and_unread_badge(stack, admin, assistant, browser, api):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send("I need a person please")
    dialog_id = _dialog_id(widget)
    wait_for(lambda: widget.state()["connection"] == "connected", message="connected")
    widget.shadow().find_element("css selector", ".handoff").click()
    wait_for(lambda: any(n["event"] == "handoff_requested" for n in widget.state()["notices"]),
             message="handoff notice")
    assert not widget.state()["handoffVisible"]

    ad = browser()
    panel = AdminPage(ad, stack.url).with_token(admin["token"])
    wait_for(lambda: any(d["id"] == dialog_id and d["status"] == "waiting" for d in panel.state()["dialogs"]),
             message="waiting dialog in the inbox")
    # waiting dialogs come first, and the title says how many wait
    assert panel.state()["dialogs"][0]["status"] == "waiting"
    assert panel.state()["title"].startswith("(")

    # panel closed: operator messages raise the unread badge
    widget.launcher().click()
    wait_for(lambda: not widget.state()["open"], message="panel closed")
    r = api.operator_post(admin["token"], dialog_id, "Hello, I am here.")
    assert r.status_code == 201, r.text
    wait_for(lambda: widget.state()["badge"] != "", message="unread badge")
    assert widget.state()["badge"] in ("1", "2")  # the reply and maybe the operator_joined notice
    widget.launcher().click()
    wait_for(lambda: widget.state()["badge"] == "", message="badge cleared on open")
    widget.wait_text("Hello, I am here.", "manager")


def test_escape_closes_and_focus_returns(stack, assistant, browser):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    assert wd.execute_script(
        "return document.querySelector('chatai-widget').shadowRoot.activeElement.className") == "input"
    from selenium.webdriver.common.keys import Keys
    widget.input().send_keys(Keys.ESCAPE)
    wait_for(lambda: not widget.state()["open"], message="Escape closes")
    assert wd.execute_script(
        "return document.querySelector('chatai-widget').shadowRoot.activeElement.className") == "launcher"
    log = wd.execute_script(
        "const l = document.querySelector('chatai-widget').shadowRoot.querySelector('.messages');"
        "return [l.getAttribute('role'), l.getAttribute('aria-live')]")
    assert log == ["log", "polite"]


def test_assistant_answers_in_both_after_typing(make_stack, browser):
    s = make_stack(ai=True)
    aid = harness.make_assistant(s.pg, "Shop bot", greeting="Hi! Ask me about shipping.")
    answer = "Yes, we ship to Norway; delivery takes 4 business days."
    harness.add_knowledge(s.pg, aid, [("Do you ship to Norway?", answer)])
    email, password, token = _operator(s)
    widget, panel, _ = _conversation(browser, s.url, aid, token, "Hello there")
    widget.record_typing()
    widget.send("Do you ship to Norway?")
    widget.wait_text(answer, "ai", timeout=30)
    assert "ai" in widget.typing_seen(), "the assistant's typing indicator was shown before its answer"
    wait_for(lambda: widget.state()["typing"] == "", message="typing hidden after the answer")
    panel.wait_text(answer, "ai")
    assert panel.texts()[-2:] == ["Do you ship to Norway?", answer]


# How each fallback is reached and shown: the stack (no WebSocket through the web server;
# no notifier at all), the widget's transport and connection state, the panel's status
# line, and what else the panel shows of it.
FALLBACKS = {
    "sse": dict(stack=lambda make_stack, make_no_ws_stack: make_no_ws_stack(), name="SSE",
                connection="connected", status="Real-time connected", timeout=30,
                shown=lambda ad, panel: "SSE" in ad.find_element("css selector", "#connection .transport-name").text),
    "longpoll": dict(stack=lambda make_stack, make_no_ws_stack: make_stack(notifier=False), name="Polling",
                     connection="fallback", status="Polling mode", timeout=40,
                     shown=lambda ad, panel: "fallback" in panel.state()["connectionClass"]),
}


@pytest.mark.parametrize("transport", FALLBACKS)
def test_refused_streams_fall_back(transport, make_stack, make_no_ws_stack, browser, artifacts):
    """WebSocket refused: SSE; WebSocket and SSE refused: long-polling. Either way the
    conversation goes on, and a reply reaches the widget at once."""
    fb = FALLBACKS[transport]
    s = fb["stack"](make_stack, make_no_ws_stack)
    aid = harness.make_assistant(s.pg, f"{fb['name']} assistant", greeting=f"Hello over {transport}")
    email, password, token = _operator(s)
    wd = browser()
    widget = WidgetPage(wd, s.url, aid).load()
    widget.send(f"hello via {transport}")
    dialog_id = _dialog_id(widget)
    wait_for(lambda: widget.state()["transport"] == transport and widget.state()["connection"] == fb["connection"],
             timeout=fb["timeout"], message=f"widget on {transport}")
    ad = browser()
    panel = AdminPage(ad, s.url).with_token(token, dialog_id)
    panel.wait_connection(fb["status"], transport, timeout=fb["timeout"])
    assert fb["shown"](ad, panel)
    panel.wait_text(f"hello via {transport}", "user")
    t0 = time.monotonic()
    panel.reply(f"answer via {transport}")
    widget.wait_text(f"answer via {transport}", "manager")
    assert time.monotonic() - t0 < 5, "a held long-poll or a stream answers at once, not at the next poll"
    widget.send(f"second via {transport}")
    panel.wait_text(f"second via {transport}", "user")
    ad.save_screenshot(str(artifacts / f"panel-{transport}.png"))


def test_notifier_restart_resyncs_without_duplicates(make_stack, browser):
    s = make_stack()
    aid = harness.make_assistant(s.pg, "Restart assistant")
    email, password, token = _operator(s)
    api = harness.Api(s.url)
    widget, panel, dialog_id = _conversation(browser, s.url, aid, token, "before restart")
    panel.wait_connection("Real-time connected", "ws")

    s.notifier.stop()
    wait_for(lambda: panel.state()["connection"].startswith(("Error", "Connecting")), message="panel sees the drop")
    for i in range(3):
        assert api.operator_post(token, dialog_id, f"while down {i}").status_code == 201
        assert api.visitor_post(dialog_id, widget.saved_dialog()["visitor_token"], f"visitor while down {i}").status_code == 201
    s.notifier.start()
    # Everything written meanwhile arrives (over a fallback or the reopened WebSocket) ...
    for i in range(3):
        widget.wait_text(f"while down {i}", "manager", timeout=40)
        panel.wait_text(f"visitor while down {i}", "user", timeout=40)
    # ... and the panel is back on WebSocket (reconnect, or the next upgrade probe).
    panel.wait_connection("Real-time connected", "ws", timeout=60)
    assert api.operator_post(token, dialog_id, "after restart").status_code == 201
    widget.wait_text("after restart", "manager")
    panel.wait_text("after restart", "manager")
    for page in (widget, panel):
        msgs = [m for m in page.state()["messages"] if m["id"] is not None]
        seqs = [m["seq"] for m in msgs]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), seqs
    assert widget.texts("manager") == ["while down 0", "while down 1", "while down 2", "after restart"]


def test_twenty_quick_messages_in_order_everywhere(stack, admin, assistant, browser):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send("first")
    dialog_id = _dialog_id(widget)
    panels = []
    for _ in range(2):
        p = AdminPage(browser(), stack.url).with_token(admin["token"], dialog_id)
        p.wait_text("first", "user")
        panels.append(p)
    sent = [f"quick {i:02d}" for i in range(20)]
    for t in sent:
        widget.send(t)
    expect = ["first"] + sent
    wait_for(lambda: [m["text"] for m in widget.stored() if m["sender"] == "user"] == expect, timeout=30,
             message="20 stored in the widget, in order", show=lambda: widget.state()["messages"])
    for p in panels:
        wait_for(lambda: p.texts("user") == expect, timeout=30, message="20 in the panel, in order",
                 show=lambda: p.state()["messages"])
    # the operator answers quickly too: in order in the widget and in the other panel
    replies = [f"reply {i:02d}" for i in range(8)]
    for t in replies:
        panels[0].reply(t)
    widget_replies = lambda: [m["text"] for m in widget.stored() if m["sender"] == "manager"]  # noqa: E731
    wait_for(lambda: widget_replies() == replies, timeout=30, message="replies in order in the widget",
             show=widget_replies)
    wait_for(lambda: panels[1].texts("manager") == replies, timeout=30, message="replies in the other panel")
    # both panels show exactly the same messages
    wait_for(lambda: len(panels[0].state()["messages"]) == len(panels[1].state()["messages"]), message="same count")
    a = [(m["id"], m["text"]) for m in panels[0].state()["messages"]]
    b = [(m["id"], m["text"]) for m in panels[1].state()["messages"]]
    assert a == b
    n_widget = len(widget.stored())
    # a refresh shows the same count on both sides
    widget.load()
    wait_for(lambda: len(widget.stored()) == n_widget, message="same count after widget refresh")
    assert [m["text"] for m in widget.stored() if m["sender"] == "user"] == expect
    panels[0].drv.refresh()
    wait_for(lambda: panels[0].texts("user") == expect, message="same messages after panel refresh")
    assert [(m["id"], m["text"]) for m in panels[0].state()["messages"]] == a


def test_reload_and_another_page_continue_the_conversation(stack, assistant, browser):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send("remember me")
    dialog_id = _dialog_id(widget)
    other = WidgetPage(wd, stack.url, assistant, page="/demo/hostile.html").load()
    other.wait_text("remember me", "user")
    assert _dialog_id(other) == dialog_id


def test_hostile_page_css_does_not_reach_the_widget(stack, assistant, browser, artifacts):
    probe = """
    const r = document.querySelector('chatai-widget').shadowRoot;
    const out = {};
    for (const sel of ['.launcher', '.panel', '.header', '.title', '.input', '.send', '.messages', '.handoff', '.footer']) {
      const n = r.querySelector(sel);
      const cs = getComputedStyle(n);
      const b = n.getBoundingClientRect();
      out[sel] = { font: cs.fontSize + ' ' + cs.fontFamily + ' ' + cs.fontWeight, color: cs.color,
        display: cs.display, bg: cs.backgroundColor, border: cs.borderTopWidth + ' ' + cs.borderTopStyle,
        transform: cs.textTransform, spacing: cs.letterSpacing, lh: cs.lineHeight,
        box: [Math.round(b.x), Math.round(b.y), Math.round(b.width), Math.round(b.height)] };
    }
    const host = getComputedStyle(document.querySelector('chatai-widget'));
    out.host = { display: host.display, opacity: host.opacity };
    return out;
    """
    result = {}
    for page in ("/demo/index.html", "/demo/hostile.html"):
        wd = browser(1280, 860)
        w = WidgetPage(wd, stack.url, assistant, page=page).load()
        w.input().send_keys("abc")
        time.sleep(0.4)  # let the panel's open animation finish
        result[page] = wd.execute_script(probe)
        wd.save_screenshot(str(artifacts / ("widget-hostile.png" if "hostile" in page else "widget-normal.png")))
        # the hostile page really is hostile
        if "hostile" in page:
            assert wd.execute_script("return getComputedStyle(document.querySelector('p')).fontSize") == "30px"
        # the demo pages carry a strict CSP (no inline styles or scripts): nothing was refused
        assert _csp_errors(wd) == []
    normal, hostile = result["/demo/index.html"], result["/demo/hostile.html"]
    for sel in normal:
        assert hostile[sel] == normal[sel], f"{sel}: {hostile[sel]} != {normal[sel]}"
    assert normal[".title"]["font"].startswith("16px")


def test_xss_payload_stays_text(stack, admin, assistant, browser):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send(XSS)
    dialog_id = _dialog_id(widget)
    wait_for(lambda: any(m["text"] == XSS and m["id"] for m in widget.state()["messages"]), message="stored")
    ad = browser()
    panel = AdminPage(ad, stack.url).with_token(admin["token"], dialog_id)
    panel.wait_text(XSS, "user")
    panel.reply(XSS)
    widget.wait_text(XSS, "manager")
    time.sleep(0.5)
    for drv in (wd, ad):
        assert drv.execute_script("return typeof window.__pwned") == "undefined"
        assert drv.execute_script(
            "const w = document.querySelector('chatai-widget');"
            "return document.querySelectorAll('img[src=x], #messages img, #messages script').length"
            " + (w ? w.shadowRoot.querySelectorAll('img, script').length : 0)") == 0
    # the inbox preview is text too
    assert any(d["preview"].endswith(XSS) for d in panel.state()["dialogs"])


def test_failed_send_keeps_words_and_retry_reuses_client_id(stack, assistant, browser):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send("first one")
    dialog_id = _dialog_id(widget)
    wait_for(lambda: widget.stored(), message="stored")
    # make the next POST fail at the network level, then heal
    wd.execute_script("""
        window.__realFetch = window.fetch;
        window.__bodies = [];
        window.fetch = (url, opts) => {
          if (opts && opts.method === 'POST' && String(url).includes('/messages')) {
            window.__bodies.push(opts.body);
            if (window.__bodies.length === 1) return Promise.reject(new TypeError('offline'));
          }
          return window.__realFetch(url, opts);
        };""")
    widget.send("please keep these words")
    wait_for(lambda: any(m["failed"] and m["text"] == "please keep these words" for m in widget.state()["messages"]),
             message="failed mark")
    widget.shadow().find_element("css selector", ".retry").click()
    wait_for(lambda: any(m["id"] and m["text"] == "please keep these words" for m in widget.state()["messages"]),
             message="retried and stored")
    import json
    bodies = [json.loads(b) for b in wd.execute_script("return window.__bodies")]
    assert len(bodies) == 2 and bodies[0]["client_id"] == bodies[1]["client_id"]
    assert widget.texts("user").count("please keep these words") == 1


def test_stale_dialog_in_storage_starts_fresh(stack, assistant, browser):
    wd = browser()
    WidgetPage(wd, stack.url, assistant).load(open_panel=False)
    wd.execute_script("localStorage.setItem(arguments[0], JSON.stringify({dialog_id: 999999, visitor_token: 'bogus'}))",
                      f"chatai:{stack.url}:assistant:{assistant}")
    widget = WidgetPage(wd, stack.url, assistant).load()
    wait_for(lambda: widget.saved_dialog() is None, message="stale dialog forgotten")
    widget.send("fresh start")
    wait_for(lambda: (widget.saved_dialog() or {}).get("dialog_id") not in (None, 999999), message="new dialog")


def test_phone_screen_full_screen_panel(stack, assistant, browser, artifacts):
    wd = browser(500, 900)
    # Chromium's window cannot be narrower than 500 px: emulate a phone's viewport instead.
    wd.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                       {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    widget = WidgetPage(wd, stack.url, assistant).load()
    def full_screen():
        box = wd.execute_script(
            "const b = document.querySelector('chatai-widget').shadowRoot.querySelector('.panel').getBoundingClientRect();"
            "return [b.x, b.y, b.width, b.height, innerWidth, innerHeight]")
        return box[0] == 0 and box[1] == 0 and box[2] == box[4] == 390 and abs(box[3] - box[5]) <= 1
    wait_for(full_screen, timeout=3, message="the panel fills the phone screen (after its opening animation)")
    assert not wd.execute_script(
        "return document.querySelector('chatai-widget').shadowRoot.querySelector('.launcher').checkVisibility()")
    widget.send("hello from a phone")
    wait_for(lambda: any(m["id"] and m["text"] == "hello from a phone" for m in widget.state()["messages"]),
             message="stored")
    wd.save_screenshot(str(artifacts / "widget-phone.png"))


def test_panel_login_errors_and_logout(stack, admin, browser, artifacts):
    ad = browser()
    ad.get(f"{stack.url}/admin/")
    wait_for(lambda: ad.find_element("id", "login-email").is_displayed(), message="login form")
    ad.find_element("id", "login-email").send_keys(admin["email"])
    ad.find_element("id", "login-password").send_keys("wrong password")
    ad.find_element("id", "login-submit").click()
    wait_for(lambda: ad.find_element("id", "login-error").text == "Wrong email or password.", message="error shown")
    ad.save_screenshot(str(artifacts / "panel-login-error.png"))
    panel = AdminPage(ad, stack.url).login(admin["email"], admin["password"])
    panel.wait_connection("Real-time connected", "ws")
    token = ad.execute_script("return sessionStorage.getItem('chatai.token')")
    assert token
    ad.find_element("id", "logout").click()
    wait_for(lambda: ad.find_element("id", "login-view").is_displayed(), message="back to login")
    assert ad.execute_script("return sessionStorage.getItem('chatai.token')") is None
    r = harness.Api(stack.url).op(token).get("/api/me")
    assert r.status_code == 401
    assert _csp_errors(ad) == []


def test_panel_served_with_strict_csp(stack):
    import requests
    r = requests.get(f"{stack.url}/admin/", timeout=10)
    csp = r.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert 'http-equiv="Content-Security-Policy"' in r.text


def test_inbox_updates_live(stack, assistant, browser):
    email, password, token = _operator(stack, "inbox@browser.example", "inbox-password-1", "Ivan Inbox")
    ad = browser()
    panel = AdminPage(ad, stack.url).with_token(token)
    panel.wait_connection("Real-time connected", "ws")
    api = harness.Api(stack.url)
    did, vt, _ = api.create_dialog(assistant, page_url="https://shop.example/cart")
    wait_for(lambda: any(d["id"] == did for d in panel.state()["dialogs"]), message="new dialog appears live")
    assert api.visitor_post(did, vt, "is anyone there?").status_code == 201
    wait_for(lambda: any(d["id"] == did and d["preview"] == "is anyone there?" and d["unread"] == "1"
                         for d in panel.state()["dialogs"]), message="last message and unread count")
    assert api.visitor_post(did, vt, "hello??").status_code == 201
    wait_for(lambda: any(d["id"] == did and d["preview"] == "hello??" and d["unread"] == "2"
                         for d in panel.state()["dialogs"]), message="unread count 2")
    r = api.s.post(f"/api/widget/dialogs/{did}/handoff", headers={"X-Visitor-Token": vt}, json={})
    assert r.status_code == 200, r.text
    wait_for(lambda: panel.state()["dialogs"][0]["id"] == did and panel.state()["dialogs"][0]["status"] == "waiting",
             message="waiting dialog first")
    wait_for(lambda: panel.state()["title"].startswith("("), message="title badge")
    # the Waiting filter shows it; opening it marks it read on the server
    ad.find_element("css selector", '.filter[data-status="waiting"]').click()
    wait_for(lambda: [d["status"] for d in panel.state()["dialogs"]] and
             all(d["status"] == "waiting" for d in panel.state()["dialogs"]), message="filter")
    panel.open_dialog(did)
    assert panel.state()["page"] == "https://shop.example/cart"
    wait_for(lambda: api.op(token).get(f"/api/dialogs/{did}").json()["unread"] == 0, message="marked read")
    wait_for(lambda: any(d["id"] == did and d["unread"] == "" for d in panel.state()["dialogs"]),
             message="unread badge cleared")


def test_logout_ends_the_session_in_every_panel(stack, browser):
    email, password, token = _operator(stack, "twice@browser.example", "twice-password-1", "Tina Twice")
    a = AdminPage(browser(), stack.url).login(email, password)
    token_a = a.drv.execute_script("return sessionStorage.getItem('chatai.token')")
    b = AdminPage(browser(), stack.url).with_token(token_a)
    a.wait_connection("Real-time connected", "ws")
    b.wait_connection("Real-time connected", "ws")
    a.drv.find_element("id", "logout").click()
    wait_for(lambda: not a.state()["signedIn"], message="signed out here")
    # the other panel's stream is closed by the server (4401): it asks to sign in again
    wait_for(lambda: not b.state()["signedIn"], timeout=20, message="signed out in the other panel")
    assert "session has ended" in b.drv.find_element("id", "login-error").text


def test_two_tabs_of_the_site_show_the_same_conversation(stack, assistant, browser):
    wd = browser()
    a = WidgetPage(wd, stack.url, assistant).load()
    a.send("written in tab A")
    dialog_id = _dialog_id(a)
    wait_for(lambda: a.state()["connection"] == "connected", message="tab A connected")
    tab_a = wd.current_window_handle
    wd.switch_to.new_window("tab")
    b = WidgetPage(wd, stack.url, assistant, page="/demo/hostile.html").load()
    b.wait_text("written in tab A", "user")
    assert _dialog_id(b) == dialog_id
    wait_for(lambda: b.state()["connection"] == "connected", message="tab B connected")
    b.send("written in tab B")
    wait_for(lambda: any(m["id"] and m["text"] == "written in tab B" for m in b.state()["messages"]), message="stored")
    # tab A learns of it when the next message of the dialog arrives (or at its next load)
    email, password, token = _operator(stack, "tabs@browser.example", "tabs-password-1", "Tabs")
    assert harness.Api(stack.url).operator_post(token, dialog_id, "operator answer").status_code == 201
    wd.switch_to.window(tab_a)
    a.wait_text("operator answer", "manager")
    wait_for(lambda: a.texts("user") == ["written in tab A", "written in tab B"], message="tab A shows tab B's words",
             show=lambda: a.texts())


@pytest.fixture
def other_origin_site(blank_site):
    """A customer site on another origin that embeds the widget."""

    def start(stack, assistant_id):
        site, url = blank_site()
        (site / "index.html").write_text(
            "<!doctype html><html><head><meta charset=utf-8><title>Another shop</title>"
            f'<script src="{stack.url}/widget/chatai.js" data-assistant="{assistant_id}" async></script>'
            "</head><body><h1>Another shop</h1></body></html>")
        return url

    return start


def _widget_on(browser, site, aid):
    """The widget of assistant aid as site's page (another origin) embeds it, its panel open."""
    wd = browser()
    w = WidgetPage(wd, site, aid, page="/index.html")
    wd.get(f"{site}/index.html")
    wait_for(lambda: w.state() is not None, message=f"widget mounted on {site}")
    w.launcher().click()
    return w


def test_widget_embedded_on_another_origin(stack, admin, browser, other_origin_site):
    allowed = harness.make_assistant(stack.pg, "Cross-origin assistant", greeting="Hello from afar")
    site = other_origin_site(stack, allowed)
    w = _widget_on(browser, site, allowed)
    w.wait_text("Hello from afar", "ai")
    w.send("hello across origins")
    wait_for(lambda: any(m["id"] and m["text"] == "hello across origins" for m in w.state()["messages"]),
             message="stored through CORS")
    wait_for(lambda: w.state()["connection"] == "connected", message="stream open from the other origin")
    dialog_id = _dialog_id(w)
    assert harness.Api(stack.url).operator_post(admin["token"], dialog_id, "reply across origins").status_code == 201
    w.wait_text("reply across origins", "manager")
    d = harness.Api(stack.url).op(admin["token"]).get(f"/api/dialogs/{dialog_id}").json()
    assert d["visitor"]["page_url"].startswith(site)


def test_widget_refused_on_an_origin_not_allowed(stack, browser, other_origin_site):
    locked = harness.make_assistant(stack.pg, "Locked assistant", greeting="Not for you",
                                    allowed_origins=["https://shop.example"])
    site = other_origin_site(stack, locked)
    w = _widget_on(browser, site, locked)
    w.send("let me in")
    wait_for(lambda: any(m["failed"] for m in w.state()["messages"]), message="the send fails visibly")
    assert "Not for you" not in w.texts()
    assert w.saved_dialog() is None


def test_widget_for_a_missing_assistant_shows_nothing(stack, browser):
    wd = browser()
    wd.get(f"{stack.url}/demo/index.html?assistant=987654")
    wait_for(lambda: any("assistant 987654 does not exist" in e["message"] for e in browser_log(wd)),
             message="the widget gave up on the missing assistant")
    assert wd.execute_script("return document.querySelector('chatai-widget') === null")


def test_delivery_latency(stack, admin, assistant, browser, artifacts):
    """Visitor -> panel and operator -> widget delivery times over WebSocket (both browsers
    run on this machine, so their Date.now() clocks agree). Figures go to artifacts."""
    widget, panel, _ = _conversation(browser, stack.url, assistant, admin["token"], "latency warm-up")
    wd, ad = widget.drv, panel.drv
    panel.wait_connection("Real-time connected", "ws")
    recorder = """
        window.__seen = {};
        const box = arguments[0] === 'panel' ? document.getElementById('messages')
          : document.querySelector('chatai-widget').shadowRoot.querySelector('.messages');
        new MutationObserver(() => {
          for (const b of box.querySelectorAll('.msg:not(.pending) .bubble')) {
            if (!(b.textContent in window.__seen)) window.__seen[b.textContent] = Date.now();
          }
        }).observe(box, { childList: true, subtree: true, attributes: true });"""
    ad.execute_script(recorder, "panel")
    wd.execute_script(recorder, "widget")
    up, down = [], []
    for i in range(10):
        text = f"ping {i}"
        t0 = wd.execute_script("""
            const root = document.querySelector('chatai-widget').shadowRoot;
            root.querySelector('.input').value = arguments[0]; const t = Date.now();
            root.querySelector('form.composer').requestSubmit(); return t;""", text)
        wait_for(lambda: ad.execute_script("return window.__seen[arguments[0]]", text), message=f"{text} in panel")
        up.append(ad.execute_script("return window.__seen[arguments[0]]", text) - t0)
        reply = f"pong {i}"
        t1 = ad.execute_script("""
            const b = document.getElementById('reply-input'); b.value = arguments[0]; const t = Date.now();
            document.getElementById('reply-form').requestSubmit(); return t;""", reply)
        wait_for(lambda: wd.execute_script("return window.__seen[arguments[0]]", reply), message=f"{reply} in widget")
        down.append(wd.execute_script("return window.__seen[arguments[0]]", reply) - t1)
    up.sort()
    down.sort()
    report = (f"visitor -> panel: median {up[5]} ms, max {up[-1]} ms\n"
              f"operator -> widget: median {down[5]} ms, max {down[-1]} ms\n")
    (artifacts / "latency.txt").write_text(report)
    print(report)
    assert up[5] < 1500 and down[5] < 1500, report
