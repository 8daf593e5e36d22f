# SPDX-License-Identifier: MIT
"""The panel's admin screens (issue 14) in headless Chromium against the real stack:
assistants (origins checked as typed with REST's rule), knowledge (search, edit, delete, CSV
in and out, try a question), operators, my profile. Payloads typed by people stay text.
Screenshots of every screen at desktop and phone sizes go to tests/artifacts/."""

import csv
import io
import time

from selenium.webdriver.support.ui import Select

import harness
from pages import AdminPage, wait_for
from panel_pages import (DESKTOP, PHONE, by_id, css, csss, fill, go, inert, new_operator, overflowing,
                         screenshot)

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def _panel(drv, stack, token, dialog_id=None):
    return AdminPage(drv, stack.url).with_token(token, dialog_id)


def _shots(drv, artifacts, name):
    for size in (PHONE, DESKTOP):
        screenshot(drv, artifacts, name, size)
        assert overflowing(drv) == [], f"{name} at {size}: wider than the screen"


# Words in no knowledge entry of these tests (nor in any dictionary): the search finds
# nothing, so the answer preview gives the assistant's fallback.
NO_ENTRY_MATCHES = "zzzz qqqq xxxx"

# Checked by the panel as typed and by REST: both must give the same verdict.
ORIGIN_SAMPLES = [
    "https://shop.example", "https://*.shop.example", "https://plain.example:443", "http://localhost:8080",
    "http://[::1]:8080", "HTTPS://Shop.Example", "shop.example", "https://shop.example/", "https://shop.example/x",
    "ftp://shop.example", "https://shop.example:0", "https://shop.example:65536", "https://.shop.example",
    "https://shop.example.", "https://", "https://*.", "https://sh op.example", "https://[]", "https://a.example:8o",
    "https://a_b.example", "https://a..example", "https://*.[::1]", "http://Plain.Example:80",
]


def test_origins_are_checked_as_typed_with_the_rule_rest_uses(stack, admin, browser):
    drv = browser(*DESKTOP)
    _panel(drv, stack, admin["token"])
    verdicts = drv.execute_async_script("""
        const [samples, done] = arguments;
        import('/admin/logic.js').then((m) => done(samples.map((s) => m.originNormalize(s))), (e) => done(String(e)));
    """, ORIGIN_SAMPLES)
    assert isinstance(verdicts, list), verdicts
    aid = harness.make_assistant(stack.pg, "Rule check")
    op = harness.Api(stack.url).op(admin["token"])
    for sample, panel_form in zip(ORIGIN_SAMPLES, verdicts):
        r = op.patch(f"/api/assistants/{aid}", json={"allowed_origins": [sample]})
        assert r.status_code in (200, 400), r.text
        assert (panel_form is not None) == (r.status_code == 200), \
            f"{sample!r}: panel {panel_form}, REST {r.status_code} {r.text}"
        if panel_form is not None:  # and the same normal form
            assert r.json()["allowed_origins"] == [panel_form], sample
    assert sum(v is not None for v in verdicts) >= 5 and verdicts.count(None) >= 10


def test_assistant_screen_creates_edits_and_shows_the_snippet(stack, admin, browser, artifacts):
    drv = browser(*DESKTOP)
    _panel(drv, stack, admin["token"])
    go(drv, "assistants")
    css(drv, "#assistant-new").click()
    assert drv.switch_to.active_element.get_attribute("id") == "as-name"
    fill(drv, "as-name", "Origins bot")
    for bad in ("shop.example", "https://shop.example/", "https://a.example:99999"):
        fill(drv, "as-origins", f"https://ok.example\n{bad}")
        wait_for(lambda: by_id(drv, "as-origins").get_attribute("aria-invalid") == "true", message=f"{bad} refused")
        assert f"Line 2: “{bad}” is not an origin" in by_id(drv, "as-origins-msg").text
    # saving with a bad line is refused in the browser, with the focus on the field
    by_id(drv, "as-save").click()
    wait_for(lambda: by_id(drv, "assistant-error").is_displayed(), message="form error")
    assert drv.switch_to.active_element.get_attribute("id") == "as-origins"
    fill(drv, "as-origins", "https://*.shop.example\nhttps://plain.example:443")
    wait_for(lambda: by_id(drv, "as-origins").get_attribute("aria-invalid") == "false", message="origins accepted")
    fill(drv, "as-handoff", "human, real person")
    fill(drv, "as-timeout", "soon")
    assert by_id(drv, "as-timeout").get_attribute("aria-invalid") == "true"
    fill(drv, "as-timeout", "90")
    fill(drv, "as-greeting", XSS)
    by_id(drv, "as-save").click()
    wait_for(lambda: by_id(drv, "snippet-box").is_displayed(), message="created")
    aid = int(css(drv, '#assistant-list .item[aria-current="true"]').get_attribute("data-assistant-id"))
    a = harness.Api(stack.url).op(admin["token"]).get(f"/api/assistants/{aid}").json()
    # stored in the normal form REST and the panel share (default port dropped)
    assert a["allowed_origins"] == ["https://*.shop.example", "https://plain.example"]
    assert a["handoff_words"] == ["human", "real person"] and a["waiting_timeout"] == 90
    assert a["greeting"] == XSS
    snippet = by_id(drv, "snippet").get_attribute("value")
    assert snippet == f'<script src="{stack.url}/widget/chatai.js" data-assistant="{aid}" async></script>'

    # edit: a field emptied is saved as such (no timeout: wait forever)
    fill(drv, "as-timeout", "")
    fill(drv, "as-name", "Origins bot 2")
    by_id(drv, "as-save").click()
    wait_for(lambda: by_id(drv, "as-status").text == "Saved.", message="saved")
    a = harness.Api(stack.url).op(admin["token"]).get(f"/api/assistants/{aid}").json()
    assert a["name"] == "Origins bot 2" and a["waiting_timeout"] is None
    assert by_id(drv, "as-greeting").get_attribute("value") == XSS and inert(drv)
    _shots(drv, artifacts, "panel-assistant-edit")


def _entries(drv):
    return [(e.find_element("css selector", ".kb-q").text, e.find_element("css selector", ".kb-a").text)
            for e in csss(drv, "#kb-list .kb-entry")]


def _choose_assistant(drv, aid):
    Select(by_id(drv, "kb-assistant")).select_by_value(str(aid))
    time.sleep(0.3)


def test_knowledge_screen(stack, admin, browser, artifacts, tmp_path):
    aid = harness.make_assistant(stack.pg, "Knowledge bot")
    harness.add_knowledge(stack.pg, aid, [
        ("What is your refund policy?", "Refunds within 30 days of delivery."),
        ("Is my payment data safe?", XSS),
    ])
    drv = browser(*DESKTOP)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    _panel(drv, stack, admin["token"])
    go(drv, "knowledge")
    _choose_assistant(drv, aid)
    wait_for(lambda: len(_entries(drv)) == 2, message="two entries", show=lambda: _entries(drv))
    assert ("Is my payment data safe?", XSS) in _entries(drv) and inert(drv)

    # search ranks with the assistant's search
    fill(drv, "kb-search", "refund")
    wait_for(lambda: [q for q, _ in _entries(drv)] == ["What is your refund policy?"], message="search",
             show=lambda: _entries(drv))

    # edit
    css(drv, '#kb-list .kb-entry button[aria-label^="Edit"]').click()
    assert by_id(drv, "kb-question").get_attribute("value") == "What is your refund policy?"
    fill(drv, "kb-answer", "Refunds within 45 days of delivery.")
    by_id(drv, "kb-save").click()
    wait_for(lambda: ("What is your refund policy?", "Refunds within 45 days of delivery.") in _entries(drv),
             message="edited", show=lambda: _entries(drv))

    # try a question: the entry that answers, then the fallback
    fill(drv, "kb-try", "can I get a refund?")
    css(drv, "#kb-try-form button").click()
    wait_for(lambda: "45 days" in by_id(drv, "kb-try-result").text, message="preview", show=lambda: by_id(drv, "kb-try-result").text)
    assert "From entry #" in by_id(drv, "kb-try-result").text
    # a question no entry shares a word with: the assistant's fallback answers, and the
    # box says so instead of naming an entry
    fill(drv, "kb-try", NO_ENTRY_MATCHES)
    css(drv, "#kb-try-form button").click()
    wait_for(lambda: "fallback" in by_id(drv, "kb-try-result").text, message="fallback",
             show=lambda: by_id(drv, "kb-try-result").text)

    # CSV import: an update (same question), a new entry with commas, quotes and a new line,
    # and a row without an answer
    fill(drv, "kb-search", "")
    f = tmp_path / "kb.csv"
    f.write_text('question,answer\r\n"What is your refund policy?","Refunds within 60 days."\r\n'
                 '"Do you gift-wrap, too?","Yes, ""for free"",\nwith a card."\r\nno answer here,\r\n')
    by_id(drv, "kb-import").send_keys(str(f))
    wait_for(lambda: "1 added, 1 updated" in by_id(drv, "kb-csv-status").text, message="imported",
             show=lambda: by_id(drv, "kb-csv-status").text)
    assert "1 problem" in by_id(drv, "kb-csv-status").text
    wait_for(lambda: ("Do you gift-wrap, too?", 'Yes, "for free",\nwith a card.') in _entries(drv),
             message="imported entry", show=lambda: _entries(drv))
    assert ("What is your refund policy?", "Refunds within 60 days.") in _entries(drv)

    # CSV export: what the browser saves reads back as the entries
    by_id(drv, "kb-export").click()
    out = downloads / f"knowledge-assistant-{aid}.csv"
    wait_for(out.exists, message="downloaded")
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == ["question", "answer"]
    assert sorted(map(tuple, rows[1:])) == sorted(_entries(drv))

    # delete asks once more on the same button
    _shots(drv, artifacts, "panel-knowledge")
    btn = css(drv, '#kb-list .kb-entry button[aria-label="Delete: Do you gift-wrap, too?"]')
    btn.click()
    assert len(_entries(drv)) == 3
    css(drv, '#kb-list .kb-entry button[aria-label="Really delete: Do you gift-wrap, too??"]').click()
    wait_for(lambda: len(_entries(drv)) == 2, message="deleted", show=lambda: _entries(drv))
    assert inert(drv)


def _op_row(drv, email):
    for tr in csss(drv, "#op-rows tr"):
        if tr.find_elements("css selector", "td")[0].text == email:
            return tr
    return None


def test_operators_screen(stack, admin, browser, artifacts):
    drv = browser(*DESKTOP)
    _panel(drv, stack, admin["token"])
    go(drv, "operators")
    wait_for(lambda: _op_row(drv, admin["email"]) is not None, message="operators listed")
    email = "new-op@screens.example"
    fill(drv, "op-email", email)
    fill(drv, "op-name", XSS)
    fill(drv, "op-password", "short")
    css(drv, "#op-form button[type=submit]").click()
    wait_for(lambda: "at least 10" in by_id(drv, "op-form-error").text, message="short password refused")
    fill(drv, "op-password", "long-enough-password")
    css(drv, "#op-form button[type=submit]").click()
    wait_for(lambda: _op_row(drv, email) is not None, message="added")
    row = _op_row(drv, email)
    assert row.find_element("css selector", "th").text == XSS and inert(drv)
    assert "never" in row.text
    # a taken email
    fill(drv, "op-email", admin["email"])
    fill(drv, "op-name", "Dup")
    fill(drv, "op-password", "long-enough-password")
    css(drv, "#op-form button[type=submit]").click()
    wait_for(lambda: "exists already" in by_id(drv, "op-form-error").text, message="409 shown")

    # the new operator signs in elsewhere
    token = harness.Api(stack.url).login(email, "long-enough-password")
    other = browser(*DESKTOP)
    theirs = _panel(other, stack, token)
    assert not css(other, '.nav-link[data-view="operators"]').is_displayed()
    assert not css(other, '.nav-link[data-view="assistants"]').is_displayed()

    # role, then disable: their panel is signed out at once
    Select(_op_row(drv, email).find_element("css selector", "select")).select_by_value("admin")
    wait_for(lambda: "Role changed" in by_id(drv, "op-status").text, message="role changed")
    ops = harness.Api(stack.url).op(admin["token"]).get("/api/operators").json()["operators"]
    assert [o["role"] for o in ops if o["email"] == email] == ["admin"]
    _op_row(drv, email).find_element("xpath", ".//button[text()='Disable']").click()
    wait_for(lambda: "Disabled" in _op_row(drv, email).text, message="disabled")
    wait_for(lambda: not theirs.state()["signedIn"], timeout=20, message="their panel signed out")
    r = harness.Api(stack.url).s.post("/api/auth/login", json={"email": email, "password": "long-enough-password"})
    assert r.status_code in (401, 403), r.text

    # enable and reset the password
    _op_row(drv, email).find_element("xpath", ".//button[text()='Enable']").click()
    wait_for(lambda: "Active" in _op_row(drv, email).text, message="enabled")
    row = _op_row(drv, email)
    row.find_element("xpath", ".//button[text()='Reset password']").click()
    pw = row.find_element("css selector", "input[type=password]")
    assert drv.switch_to.active_element == pw
    pw.send_keys("a-brand-new-password")
    row.find_element("xpath", ".//button[text()='Set password']").click()
    wait_for(lambda: "reset" in by_id(drv, "op-status").text, message="password reset")
    assert harness.Api(stack.url).login(email, "a-brand-new-password")
    _shots(drv, artifacts, "panel-operators")


def test_profile_screen(stack, browser, artifacts):
    email = "profile@screens.example"
    _, token = new_operator(stack, email, "profile-password-1", "Pat Profile")
    drv = browser(*DESKTOP)
    _panel(drv, stack, token)
    go(drv, "profile")
    assert by_id(drv, "pf-name").get_attribute("value") == "Pat Profile"
    fill(drv, "pf-name", "Pat Renamed")
    css(drv, "#profile-form button[type=submit]").click()
    wait_for(lambda: "current password" in by_id(drv, "profile-error").text, message="current password asked")
    fill(drv, "pf-name", "Pat Renamed")
    fill(drv, "pf-current", "wrong-password-123")
    css(drv, "#profile-form button[type=submit]").click()
    wait_for(lambda: by_id(drv, "profile-error").is_displayed() and "Not saved" in by_id(drv, "profile-error").text,
             message="wrong password refused", show=lambda: by_id(drv, "profile-error").text)
    assert AdminPage(drv, stack.url).state()["signedIn"], "a wrong current password does not sign out"
    fill(drv, "pf-name", "Pat Renamed")
    fill(drv, "pf-password", "profile-password-2")
    fill(drv, "pf-current", "profile-password-1")
    css(drv, "#profile-form button[type=submit]").click()
    wait_for(lambda: by_id(drv, "profile-status").text == "Saved.", message="saved",
             show=lambda: by_id(drv, "profile-error").text)
    assert by_id(drv, "me").text == "Pat Renamed"
    assert harness.Api(stack.url).login(email, "profile-password-2")
    _shots(drv, artifacts, "panel-profile")

    # an operator reads and tries the knowledge; writing it is for admins
    aid = harness.make_assistant(stack.pg, "Read-only bot")
    harness.add_knowledge(stack.pg, aid, [("Opening hours?", "9 to 5.")])
    go(drv, "knowledge")
    _choose_assistant(drv, aid)
    wait_for(lambda: _entries(drv) == [("Opening hours?", "9 to 5.")], message="entries for an operator",
             show=lambda: _entries(drv))
    assert not by_id(drv, "kb-form").is_displayed()
    assert not csss(drv, "#kb-list button") and not by_id(drv, "kb-import").is_displayed()
    fill(drv, "kb-try", "what are your opening hours?")
    css(drv, "#kb-try-form button").click()
    wait_for(lambda: "9 to 5." in by_id(drv, "kb-try-result").text, message="an operator tries a question")
    drv.get(f"{stack.url}/admin/#operators")
    wait_for(lambda: by_id(drv, "inbox-view").is_displayed(), message="admin sections refused: the inbox")


UNLABELLED_JS = """
const bad = [];
const nameOf = (n) => {
  if (n.getAttribute('aria-label')) return n.getAttribute('aria-label');
  const by = n.getAttribute('aria-labelledby');
  if (by) return by.split(' ').map((i) => (document.getElementById(i) || {}).textContent || '').join(' ').trim();
  if (n.labels && n.labels.length) return [...n.labels].map((l) => l.textContent).join(' ').trim();
  if (!['INPUT', 'SELECT', 'TEXTAREA'].includes(n.tagName)) return n.textContent.trim();
  return n.getAttribute('title') || '';
};
for (const n of document.querySelectorAll('button, input, select, textarea, a[href], [role=option]')) {
  if (!n.checkVisibility() || n.closest('[hidden]')) continue;
  const what = n.tagName + (n.id ? '#' + n.id : '') + '.' + n.className;
  if (!nameOf(n)) bad.push('no name: ' + what);
  if (n.tabIndex < 0 && n.getAttribute('role') !== 'option') bad.push('not reachable: ' + what);
}
return bad;
"""


def test_every_control_is_labelled_and_reachable_by_keyboard(stack, admin, browser):
    from selenium.webdriver.common.keys import Keys
    aid = harness.make_assistant(stack.pg, "Labels bot")
    harness.add_knowledge(stack.pg, aid, [("Label question?", "Label answer.")])
    api = harness.Api(stack.url)
    did, vtok, _ = api.create_dialog(aid)
    api.visitor_post(did, vtok, "hello labels")
    drv = browser(*DESKTOP)
    panel = _panel(drv, stack, admin["token"], did)
    panel.wait_text("hello labels", "user")
    problems = {"inbox": drv.execute_script(UNLABELLED_JS)}
    for view in ("assistants", "knowledge", "operators", "profile"):
        go(drv, view)
        time.sleep(0.5)
        problems[view] = drv.execute_script(UNLABELLED_JS)
    assert all(v == [] for v in problems.values()), problems

    # the keyboard alone: Tab from the top reaches the sections, Enter opens one
    drv.find_element("tag name", "body").click()
    drv.execute_script("document.activeElement.blur()")
    seen = []
    for _ in range(12):
        drv.switch_to.active_element.send_keys(Keys.TAB)
        a = drv.switch_to.active_element
        seen.append(a.get_attribute("data-view") or a.get_attribute("id") or a.tag_name)
    assert seen.index("inbox") < seen.index("knowledge") < seen.index("search-input"), seen
    while drv.switch_to.active_element.get_attribute("data-view") != "knowledge":
        drv.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    drv.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(lambda: by_id(drv, "knowledge-view").is_displayed(), message="knowledge opened by keyboard")
