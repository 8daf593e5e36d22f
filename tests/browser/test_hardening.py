# SPDX-License-Identifier: MIT
"""Issue 12, item 11 in a real browser: no token on window globals (widget and panel), the
page address operators see has no query or fragment unless the site opts in, and the panel
still connects over WebSocket under the narrowed Content-Security-Policy (connect-src 'self')."""

import pytest

import harness
from pages import AdminPage, WidgetPage, console_errors, wait_for

# Every own property of window that a fresh window does not have (what the page's scripts
# put there), searched a few levels deep for the given strings.
FIND_IN_GLOBALS_JS = """
const needles = arguments[0];
const fresh = document.createElement('iframe');
document.body.appendChild(fresh);
const builtin = new Set(Object.getOwnPropertyNames(fresh.contentWindow));
fresh.remove();
const seen = new Set();
const hits = [];
function walk(v, path, depth) {
  if (v === null || v === undefined) return;
  if (typeof v === 'string') {
    for (const n of needles) if (n && v.includes(n)) hits.push(path);
    return;
  }
  if ((typeof v !== 'object' && typeof v !== 'function') || depth > 5 || seen.has(v)) return;
  if (v instanceof Node || v === window) return;
  seen.add(v);
  let keys = [];
  try { keys = Object.getOwnPropertyNames(v); } catch (e) { return; }
  for (const k of keys) {
    let x;
    try { x = v[k]; } catch (e) { continue; }
    walk(x, path + '.' + k, depth + 1);
  }
}
const added = Object.getOwnPropertyNames(window).filter((k) => !builtin.has(k));
for (const k of added) {
  let x;
  try { x = window[k]; } catch (e) { continue; }
  walk(x, 'window.' + k, 0);
}
return { added: added, hits: hits };
"""


def _csp_errors(drv):
    return [e for e in console_errors(drv) if "Content Security Policy" in e.get("message", "")]


def _operator(stack, email, password="hardening-password-1"):
    harness.make_operator(stack.pg, email, password, "Hanna Hardening", "operator")
    return harness.Api(stack.url).login(email, password)


def test_no_token_on_window_globals(stack, assistant, browser):
    wd = browser()
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send("where do tokens live?")
    saved = wait_for(widget.saved_dialog, message="dialog saved")
    wait_for(lambda: widget.state()["connection"] == "connected", message="widget connected")
    visitor_token = saved["visitor_token"] if "visitor_token" in saved else saved.get("token")
    assert visitor_token, saved
    got = wd.execute_script(FIND_IN_GLOBALS_JS, [visitor_token])
    assert "__chatai" not in got["added"], got["added"]
    assert got["hits"] == [], got

    op = _operator(stack, "globals@browser.example")
    ad = browser()
    panel = AdminPage(ad, stack.url).with_token(op, saved["dialog_id"])
    panel.wait_connection("Real-time connected", "ws")
    got = ad.execute_script(FIND_IN_GLOBALS_JS, [op])
    assert "__chataiAdmin" not in got["added"], got["added"]
    assert got["hits"] == [], got


def test_panel_connects_over_websocket_under_the_narrowed_csp(stack, browser):
    import requests
    r = requests.get(f"{stack.url}/admin/", timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert "connect-src 'self';" in csp and "ws:" not in csp and "wss:" not in csp
    op = _operator(stack, "csp@browser.example")
    ad = browser()
    panel = AdminPage(ad, stack.url).with_token(op)
    panel.wait_connection("Real-time connected", "ws")
    assert _csp_errors(ad) == []


def _page_url(stack, op, dialog_id):
    r = harness.Api(stack.url).op(op).get(f"/api/dialogs/{dialog_id}")
    assert r.status_code == 200, r.text
    return r.json()["visitor"]["page_url"]


@pytest.mark.parametrize("full", [False, True])
def test_page_url_without_query_and_fragment(stack, assistant, browser, full):
    wd = browser()
    query = f"assistant={assistant}&reset=secret-123" + ("&fullurl=1" if full else "")
    wd.get(f"{stack.url}/demo/index.html?{query}#order-42")
    widget = WidgetPage(wd, stack.url, assistant)
    wait_for(lambda: widget.state() is not None, message="widget mounted")
    if not widget.state()["open"]:
        widget.launcher().click()
        wait_for(lambda: widget.state()["open"], message="panel open")
    widget.send("what page am I on?")
    saved = wait_for(widget.saved_dialog, message="dialog saved")
    op = _operator(stack, f"pageurl-{int(full)}@browser.example")
    url = _page_url(stack, op, saved["dialog_id"])
    base = f"{stack.url}/demo/index.html"
    # the default strips both; data-full-url="true" (chataiSettings.fullPageUrl) keeps them
    assert url == (f"{base}?{query}#order-42" if full else base)
