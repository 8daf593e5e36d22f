# SPDX-License-Identifier: MIT
"""The composer of issue 14 in headless Chromium against the real stack: "/" opens canned
replies ranked by the dialog's suggestions and searchable, with placeholders filled; "save as
knowledge" on an operator's reply, pre-filled with the visitor's question; private notes,
styled apart and never shown to the visitor; assignment to a named operator; the search box
whose results open the dialog at the message. Everything people typed stays text."""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import harness
from pages import AdminPage, wait_for
from panel_pages import (DESKTOP, DOWN, ENTER, ESC, PHONE, by_id, composer_key, css, csss, inert, new_operator,
                         overflowing, screenshot)

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
SHIPPING_Q = "How long does shipping take?"
SHIPPING_A = "Shipping takes 3 business days. (You wrote from {visitor_page}.)"
REFUND_Q = "What is your refund policy?"
REFUND_A = "Refunds within 30 days, {operator_name} can start one for you."


def _canned(drv):
    return [(li.find_element(By.CSS_SELECTOR, ".canned-q").text, li.get_attribute("aria-selected") == "true",
             bool(li.find_elements(By.CSS_SELECTOR, ".canned-tag")))
            for li in csss(drv, "#canned-list > li")] if by_id(drv, "canned").is_displayed() else None


def _dialog(stack, aid, visitor_text, page="https://shop.example/cart"):
    api = harness.Api(stack.url)
    did, vtok, _ = api.create_dialog(aid, page_url=page)
    assert api.visitor_post(did, vtok, visitor_text).status_code in (200, 201)
    return did, vtok


def test_canned_replies_save_as_knowledge_notes_and_assign(stack, admin, browser, artifacts):
    aid = harness.make_assistant(stack.pg, "Composer bot")
    harness.add_knowledge(stack.pg, aid, [(SHIPPING_Q, SHIPPING_A), (REFUND_Q, REFUND_A), ("Gift cards?", XSS)])
    bob_id, _ = new_operator(stack, "bob@composer.example", name="Bob Named")
    question = "how long does shipping take to Oslo?"
    did, vtok = _dialog(stack, aid, question)

    drv = browser(*DESKTOP)
    panel = AdminPage(drv, stack.url).with_token(admin["token"], did)
    panel.wait_text(question, "user")

    # "/" opens the list: the suggestion for the visitor's last message first, active
    composer_key(drv, "/")
    wait_for(lambda: _canned(drv), message="canned list open")
    first = _canned(drv)[0]
    assert first == (SHIPPING_Q, True, True), _canned(drv)
    assert "canned replies: arrow keys choose" in by_id(drv, "canned-status").get_attribute("textContent")
    assert by_id(drv, "reply-input").get_attribute("aria-activedescendant") == "canned-0"
    assert inert(drv)
    screenshot(drv, artifacts, "panel-canned", DESKTOP)
    # searchable: "/refund" leaves the refund entry; Escape closes, the words stay
    composer_key(drv, "refund")
    wait_for(lambda: [c[0] for c in (_canned(drv) or [])] == [REFUND_Q], message="filtered", show=lambda: _canned(drv))
    composer_key(drv, ESC)
    assert _canned(drv) is None and by_id(drv, "reply-input").get_attribute("value") == "/refund"
    assert panel.state()["open"], "Escape in the list does not close the dialog"
    by_id(drv, "reply-input").clear()
    composer_key(drv, "/")
    wait_for(lambda: _canned(drv) and len(_canned(drv)) >= 2, message="open again", show=lambda: _canned(drv))
    composer_key(drv, DOWN)
    wait_for(lambda: _canned(drv)[1][1], message="second active")
    n = len(_canned(drv))
    composer_key(drv, *([DOWN] * (n - 1)))  # wraps around
    wait_for(lambda: _canned(drv)[0][1], message="first active again", show=lambda: _canned(drv))
    composer_key(drv, ENTER)
    filled = "Shipping takes 3 business days. (You wrote from https://shop.example/cart.)"
    wait_for(lambda: by_id(drv, "reply-input").get_attribute("value") == filled, message="placeholders filled",
             show=lambda: by_id(drv, "reply-input").get_attribute("value"))
    composer_key(drv, ENTER)
    panel.wait_text(filled, "manager")
    wait_for(lambda: filled in [m["text"] for m in harness.Api(stack.url).visitor_messages(did, vtok).json()],
             message="the visitor has the reply")

    # save as knowledge, pre-filled with the visitor question that led to the reply
    btn = wait_for(lambda: csss(drv, "#messages .msg.manager .save-kb"), message="save-as-knowledge action")[0]
    btn.click()
    wait_for(lambda: by_id(drv, "save-kb").is_displayed(), message="modal open")
    assert by_id(drv, "save-kb-question").get_attribute("value") == question
    assert by_id(drv, "save-kb-answer").get_attribute("value") == filled
    assert drv.switch_to.active_element.get_attribute("id") == "save-kb-question"
    by_id(drv, "save-kb-ok").click()
    wait_for(lambda: not by_id(drv, "save-kb").is_displayed(), message="modal closed")
    kb = harness.Api(stack.url).op(admin["token"]).get(f"/api/assistants/{aid}/knowledge").json()["knowledge"]
    assert (question, filled) in [(k["question"], k["answer"]) for k in kb]

    # a private note: styled apart, inert, never in the visitor's history
    css(drv, 'input[name="reply-mode"][value="note"]').click()
    assert by_id(drv, "reply-send").text == "Add note"
    composer_key(drv, XSS)
    composer_key(drv, ENTER)
    wait_for(lambda: csss(drv, "#messages .msg.note"), message="note shown")
    note = csss(drv, "#messages .msg.note")[0]
    assert note.find_element(By.CSS_SELECTOR, ".bubble").text == XSS and inert(drv)
    assert note.find_element(By.CSS_SELECTOR, ".who").text.startswith("Private note")
    assert note.value_of_css_property("border-style") != "none" or \
        note.find_element(By.CSS_SELECTOR, ".bubble").value_of_css_property("border-top-style") == "dashed"
    seen = harness.Api(stack.url).visitor_messages(did, vtok).json()
    assert XSS not in [m["text"] for m in seen]
    css(drv, 'input[name="reply-mode"][value="reply"]').click()

    # assign to a named operator
    wait_for(lambda: any(o.text.startswith("Bob Named") for o in csss(drv, "#assign-select option")),
             message="operators listed")
    Select(by_id(drv, "assign-select")).select_by_value(str(bob_id))
    by_id(drv, "assign-btn").click()
    wait_for(lambda: by_id(drv, "dialog-assigned").text == "Assigned to Bob Named", message="assigned",
             show=lambda: by_id(drv, "dialog-assigned").text)
    wait_for(lambda: any(n["text"] == "Assigned to Bob Named" for n in panel.state()["notices"]),
             message="assignment event shown", show=lambda: panel.state()["notices"])
    d = harness.Api(stack.url).op(admin["token"]).get(f"/api/dialogs/{did}").json()
    assert d["assigned_to"]["id"] == bob_id
    screenshot(drv, artifacts, "panel-composer", DESKTOP)
    assert overflowing(drv) == []
    screenshot(drv, artifacts, "panel-composer", PHONE)
    assert overflowing(drv) == []
    composer_key(drv, "/")
    wait_for(lambda: _canned(drv), message="canned list on a phone")
    screenshot(drv, artifacts, "panel-canned", PHONE)
    assert overflowing(drv) == []


def test_canned_replies_for_an_operator_and_assign_by_name(stack, admin, browser):
    aid = harness.make_assistant(stack.pg, "Operator composer bot")
    harness.add_knowledge(stack.pg, aid, [(REFUND_Q, REFUND_A)])
    oid, token = new_operator(stack, "olga@composer.example", name=XSS)
    colleague, _ = new_operator(stack, "pete@composer.example", name="Pete Colleague")
    gone, _ = new_operator(stack, "gone@composer.example", name="Gone Away")
    stack.pg.sql("UPDATE operators SET disabled_at = now() WHERE id = %s", gone)
    did, _ = _dialog(stack, aid, "I want a refund please")
    drv = browser(*DESKTOP)
    panel = AdminPage(drv, stack.url).with_token(token, did)
    panel.wait_text("I want a refund please", "user")
    composer_key(drv, "/")
    wait_for(lambda: _canned(drv), message="canned list open")
    composer_key(drv, ENTER)
    # the operator's own name (a payload) goes in as text
    want = f"Refunds within 30 days, {XSS} can start one for you."
    wait_for(lambda: by_id(drv, "reply-input").get_attribute("value") == want, message="filled",
             show=lambda: by_id(drv, "reply-input").get_attribute("value"))
    composer_key(drv, ENTER)
    panel.wait_text(want, "manager")
    wait_for(lambda: any(m.text == XSS for m in csss(drv, "#messages .msg.manager .who")), message="name shown")
    assert inert(drv)
    # a plain operator assigns by name too (GET /api/team): active colleagues, never a
    # disabled one, and no email in the list
    wait_for(lambda: any(o.text == "Pete Colleague" for o in csss(drv, "#assign-select option")),
             message="colleagues listed", show=lambda: [o.text for o in csss(drv, "#assign-select option")])
    opts = {o.get_attribute("value"): o.text for o in csss(drv, "#assign-select option")}
    assert str(oid) in opts and str(colleague) in opts and str(gone) not in opts
    assert not any("@" in t for t in opts.values())
    Select(by_id(drv, "assign-select")).select_by_value(str(colleague))
    by_id(drv, "assign-btn").click()
    wait_for(lambda: by_id(drv, "dialog-assigned").text == "Assigned to Pete Colleague", message="assigned",
             show=lambda: (by_id(drv, "dialog-assigned").text, by_id(drv, "dialog-error").text))
    Select(by_id(drv, "assign-select")).select_by_value(str(oid))
    by_id(drv, "assign-btn").click()
    wait_for(lambda: by_id(drv, "dialog-assigned").text == f"Assigned to {XSS}", message="assigned to self",
             show=lambda: (by_id(drv, "dialog-assigned").text, by_id(drv, "dialog-error").text))
    assert inert(drv)


def test_search_opens_the_dialog_at_the_message(stack, admin, browser, artifacts):
    aid = harness.make_assistant(stack.pg, "Search bot")
    api = harness.Api(stack.url)
    did, vtok, _ = api.create_dialog(aid, page_url="https://search.example/p")
    for i in range(40):
        text = f"filler line {i}" if i != 5 else f"my parcel zebracorn-{did} never came {XSS}"
        assert api.visitor_post(did, vtok, text).status_code in (200, 201)
    drv = browser(*DESKTOP)
    panel = AdminPage(drv, stack.url).with_token(admin["token"])
    wait_for(lambda: any(d["id"] == did for d in panel.state()["dialogs"]), message="the inbox lists the dialog")
    for size in (PHONE, DESKTOP):
        screenshot(drv, artifacts, "panel-inbox", size)
        assert overflowing(drv) == [], size
    box = by_id(drv, "search-input")
    box.send_keys(f"zebracorn-{did}")
    box.send_keys(ENTER)
    wait_for(lambda: by_id(drv, "search-view").is_displayed() and csss(drv, "#search-results .result"),
             message="results", show=lambda: by_id(drv, "search-status").text)
    results = csss(drv, "#search-results .result")
    assert len(results) == 1 and inert(drv)
    r = results[0]
    assert "Search bot" in r.text and "search.example" in r.text and "AI" in r.text
    assert [m.text for m in r.find_elements(By.CSS_SELECTOR, "mark")], "the query's words are marked"
    screenshot(drv, artifacts, "panel-search", PHONE)
    assert overflowing(drv) == []
    screenshot(drv, artifacts, "panel-search", DESKTOP)
    seq = int(r.get_attribute("data-seq"))
    r.click()
    wait_for(lambda: panel.state()["open"] == f"Visitor #{did}", message="dialog open")
    found = wait_for(lambda: csss(drv, "#messages > .msg.found"), message="message marked")[0]
    assert int(found.get_attribute("data-seq")) == seq
    assert drv.switch_to.active_element == found, "the message has the focus"
    assert drv.execute_script(
        "const b = arguments[0].getBoundingClientRect(), m = document.getElementById('messages').getBoundingClientRect();"
        "return b.top >= m.top && b.bottom <= m.bottom", found), "scrolled into view"
    assert drv.current_url.endswith(f"#dialog-{did}-seq-{seq}")
    assert inert(drv)
    screenshot(drv, artifacts, "panel-search-found", DESKTOP)
    # a reload comes back to the same message
    drv.refresh()
    wait_for(lambda: csss(drv, "#messages > .msg.found"), message="found again after a reload")


def test_widget_never_shows_a_note_and_reads_its_gap_once(stack, admin, assistant, browser):
    from pages import WidgetPage
    wd = browser(*DESKTOP)
    w = WidgetPage(wd, stack.url, assistant).load()
    w.send("is anyone there?")
    did = wait_for(w.saved_dialog, message="dialog saved")["dialog_id"]
    wait_for(lambda: w.state()["connection"] == "connected", message="widget connected")
    before = _history_reads(wd)
    op = harness.Api(stack.url).op(admin["token"])
    assert op.post(f"/api/dialogs/{did}/notes", json={"text": "secret note " + XSS}).status_code == 201
    for i in range(3):
        assert harness.Api(stack.url).operator_post(admin["token"], did, f"reply {i}").status_code == 201
        w.wait_text(f"reply {i}", "manager")
        time.sleep(1.2)  # the hole check runs 700 ms after a message: one check per reply
    texts = w.texts()
    assert not any("secret note" in t for t in texts) and inert(wd)
    history_reads = _history_reads(wd) - before
    assert history_reads <= 1, f"the note's gap was read {history_reads} times"


def _history_reads(wd):
    """Requests to the widget's history URL so far (its POSTs too: count differences)."""
    return wd.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => /\\/api\\/widget\\/dialogs\\/\\d+\\/messages$/.test(e.name)).length")
