# SPDX-License-Identifier: MIT
"""Issue 12 item 4: a stream refusal (WebSocket close 4403, SSE 403) for a dialog that REST
still serves does not make the widget forget the conversation: it falls back to polling and
keeps the stored dialog. Only REST's own 401/403/404 means the dialog is gone."""

import harness
from pages import WidgetPage, wait_for

# Runs before the page's scripts: every stream URL (WebSocket, EventSource, and the fetch that
# probes an SSE refusal) names another assistant than the dialog's, so the notifier refuses it
# with 4403 / HTTP 403 ("dialog does not belong to this assistant") while REST, which the
# widget calls with the dialog's own ids, keeps serving the dialog. This is what an origin
# rule that REST and the streams read differently looks like to the widget.
REFUSE_STREAMS_JS = """
(() => {
  const bend = (u) => {
    const s = String(u);
    if (!/\\/(ws|sse)\\//.test(s)) return u;
    window.__bent = (window.__bent || 0) + 1;
    return s.replace(/assistant_id=(\\d+)/, (m, n) => `assistant_id=${Number(n) + 1000000}`)
            .replace(/\\/dialogs\\/(\\d+)/, (m, n) => (/assistant_id=/.test(s) ? m : `/dialogs/${Number(n) + 1000000}`));
  };
  const WS = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    return protocols === undefined ? new WS(bend(url)) : new WS(bend(url), protocols);
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  const ES = window.EventSource;
  window.EventSource = function (url, init) { return new ES(bend(url), init); };
  window.EventSource.prototype = ES.prototype;
  const f = window.fetch;
  window.fetch = function (url, init) { return f.call(this, typeof url === 'string' ? bend(url) : url, init); };
})();
"""


def test_stream_refused_keeps_the_dialog_and_polls(stack, admin, assistant, browser):
    wd = browser()
    wd.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": REFUSE_STREAMS_JS})
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.send("first words")
    saved = wait_for(widget.saved_dialog, message="dialog saved in localStorage")
    dialog_id = saved["dialog_id"]
    # WebSocket refused (4403), then SSE refused (403): polling, and the dialog stays
    wait_for(lambda: widget.state()["transport"] in ("longpoll", "poll") and widget.state()["connection"] == "fallback",
             timeout=30, message="widget polling after the streams' refusal", show=widget.state)
    assert wd.execute_script("return window.__bent || 0") >= 1, "the streams were asked (and refused)"
    assert widget.saved_dialog() == saved
    assert not any("no longer available" in n["text"] for n in widget.state()["notices"])
    # the operator's answer arrives by polling, in the same conversation
    assert harness.Api(stack.url).operator_post(admin["token"], dialog_id, "answer while polling").status_code == 201
    widget.wait_text("answer while polling", "manager", timeout=30)
    # the visitor's next message goes to the same dialog, not a new one
    widget.send("second words")
    wait_for(lambda: any(m["id"] and m["text"] == "second words" for m in widget.state()["messages"]),
             message="second message stored")
    assert widget.saved_dialog() == saved
    msgs = harness.Api(stack.url).op(admin["token"]).get(f"/api/dialogs/{dialog_id}/messages").json()
    texts = [m["text"] for m in (msgs if isinstance(msgs, list) else msgs.get("messages", []))]
    assert "first words" in texts and "second words" in texts
    # a reload keeps the conversation too
    widget = WidgetPage(wd, stack.url, assistant).load()
    widget.wait_text("answer while polling", "manager")
    wait_for(lambda: widget.state()["connection"] == "fallback", timeout=30, message="polling after reload",
             show=widget.state)
    assert widget.saved_dialog() == saved


def test_stream_refused_and_rest_refuses_too_forgets_the_dialog(make_stack, browser):
    """The other side: when REST refuses the dialog as well (here: its visitor token no
    longer matches, so 403), the widget forgets it as before."""
    s = make_stack(env={"CHATAI_AUTH_CACHE_TTL": 0})  # REST sees the change below at once
    aid = harness.make_assistant(s.pg, "Forgetful assistant", greeting="Hi")
    wd = browser()
    wd.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": REFUSE_STREAMS_JS})
    widget = WidgetPage(wd, s.url, aid).load()
    widget.send("soon gone")
    saved = wait_for(widget.saved_dialog, message="dialog saved")
    wait_for(lambda: widget.state()["connection"] == "fallback", timeout=30, message="polling", show=widget.state)
    s.pg.sql("UPDATE dialogs SET visitor_token_hash = repeat('0', 64) WHERE id = %s", saved["dialog_id"])
    wait_for(lambda: widget.saved_dialog() is None, timeout=30, message="the gone dialog is forgotten",
             show=widget.state)
