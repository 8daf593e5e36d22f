# SPDX-License-Identifier: MIT
"""Issue 14's first "done when", in one headless Chromium and with no REST call of the test's
own: a new admin signs in, creates an assistant, sets its allowed origins, adds knowledge,
copies the embed snippet into a page served from another origin, and the widget there
answers from the new entry."""

import harness
from pages import AdminPage, WidgetPage, wait_for
from panel_pages import DESKTOP, PHONE, by_id, css, csss, fill, go, screenshot, overflowing

QUESTION = "Do you deliver to Iceland?"
ANSWER = "Yes: we deliver to Iceland in 6 business days, free above 50 EUR."


def test_new_admin_sets_up_a_site_in_the_browser(make_stack, browser, blank_site, artifacts):
    s = make_stack(ai=True)
    email, password = "new-admin@setup.example", "new-admin-password-1"
    harness.make_operator(s.pg, email, password, "Nina Newadmin", "admin")
    site_dir, site = blank_site()

    drv = browser(*DESKTOP)
    # The clipboard can be read back by the test (what a paste would get).
    drv.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": s.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    AdminPage(drv, s.url).login(email, password)

    # 1. the assistant, with an origin refused as typed, then the site's origin
    go(drv, "assistants")
    css(drv, "#assistant-new").click()
    fill(drv, "as-name", "Iceland shop")
    fill(drv, "as-greeting", "Hi! Ask me about delivery.")
    fill(drv, "as-origins", f"{site}/index.html")
    wait_for(lambda: by_id(drv, "as-origins").get_attribute("aria-invalid") == "true", message="path refused as typed")
    assert "is not an origin" in by_id(drv, "as-origins-msg").text
    fill(drv, "as-origins", site)
    wait_for(lambda: by_id(drv, "as-origins").get_attribute("aria-invalid") == "false", message="origin accepted")
    by_id(drv, "as-save").click()
    wait_for(lambda: by_id(drv, "snippet-box").is_displayed(), message="the snippet of the new assistant")
    aid = int(css(drv, '#assistant-list .item[aria-current="true"]').get_attribute("data-assistant-id"))
    screenshot(drv, artifacts, "panel-assistants", DESKTOP)

    # 2. the snippet, through the clipboard
    by_id(drv, "snippet-copy").click()
    wait_for(lambda: "Copied" in by_id(drv, "snippet-status").text, message="copied")
    snippet = drv.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('ERR ' + e));")
    assert snippet == f'<script src="{s.url}/widget/chatai.js" data-assistant="{aid}" async></script>', snippet

    # 3. the knowledge entry
    go(drv, "knowledge")
    wait_for(lambda: by_id(drv, "kb-assistant").get_attribute("value") == str(aid), message="assistant chosen")
    fill(drv, "kb-question", QUESTION)
    fill(drv, "kb-answer", ANSWER)
    by_id(drv, "kb-save").click()
    wait_for(lambda: any(e.text.startswith(QUESTION) for e in csss(drv, "#kb-list .kb-entry")), message="entry listed")

    # 4. the site pastes the snippet; the widget on the other origin answers from the entry
    (site_dir / "index.html").write_text(
        "<!doctype html><html><head><meta charset=utf-8><title>Iceland shop</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{snippet}</head><body><h1>Iceland shop</h1></body></html>")
    wd = browser(*DESKTOP)
    wd.get(f"{site}/index.html")
    w = WidgetPage(wd, site, aid, page="/index.html")
    wait_for(lambda: w.state() is not None, message="widget mounted on the site")
    w.launcher().click()
    w.wait_text("Hi! Ask me about delivery.", "ai")
    w.send(QUESTION)
    w.wait_text(ANSWER, "ai", timeout=30)
    screenshot(wd, artifacts, "site-widget-answer", DESKTOP)
    screenshot(wd, artifacts, "site-widget-answer", PHONE)
    assert overflowing(drv) == []
