# SPDX-License-Identifier: MIT
"""Page objects for the widget (inside its shadow root) and the operator panel."""

import json
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def wait_for(predicate, timeout=15.0, interval=0.1, message="condition", show=None):
    """Polls predicate() until true; on timeout the AssertionError includes show() if given."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except Exception as e:  # a page mid-navigation: try again
            last = e
            if time.monotonic() > deadline:
                raise
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            extra = ""
            if show is not None:
                try:
                    extra = f"; state: {show()!r}"
                except Exception as e:
                    extra = f"; state unavailable: {e}"
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r}){extra}")
        time.sleep(interval)


def browser_log(drv):
    """Every console entry so far (reading the log empties it: keep what was read)."""
    seen = getattr(drv, "_chatai_log", None)
    if seen is None:
        seen = drv._chatai_log = []
    seen.extend(drv.get_log("browser"))
    return list(seen)


def console_errors(drv):
    """Browser console entries of level SEVERE (CSP violations, uncaught errors)."""
    return [e for e in browser_log(drv) if e.get("level") == "SEVERE"]


def uncaught_errors(drv):
    """Uncaught exceptions and unhandled promise rejections of the page's own code."""
    return [e for e in console_errors(drv) if "Uncaught" in e.get("message", "")]


# The message and notice elements of a list as plain objects: the widget and the panel
# render them alike. Both state scripts below start with it.
LIST_JS = """
const messagesIn = (root, sel) => [...root.querySelectorAll(sel)].map((n) => ({
  sender: ['user', 'ai', 'manager'].find((c) => n.classList.contains(c)) || '',
  text: n.querySelector('.bubble').textContent,
  id: n.dataset.id ? Number(n.dataset.id) : null,
  seq: n.dataset.seq ? Number(n.dataset.seq) : null,
  pending: n.classList.contains('pending'),
  failed: n.classList.contains('failed'),
}));
const noticesIn = (root, sel) => [...root.querySelectorAll(sel)].map((n) => ({ text: n.textContent, event: n.dataset.event }));
"""

WIDGET_STATE_JS = LIST_JS + """
const host = document.querySelector('chatai-widget');
if (!host || !host.shadowRoot) return null;
const r = host.shadowRoot;
const q = (s) => r.querySelector(s);
return {
  open: !q('.panel').hidden,
  messages: messagesIn(r, '.messages > .msg'),
  notices: noticesIn(r, '.messages > .notice'),
  typing: !q('.typing').hidden ? q('.typing').textContent : '',
  badge: q('.badge').hidden ? '' : q('.badge').textContent,
  connection: q('.root').dataset.connection || '',
  transport: q('.root').dataset.transport || '',
  title: q('.title').textContent,
  handoffVisible: !q('.actions').hidden,
  closedBar: !q('.closed-bar').hidden,
};
"""


class WidgetPage:
    def __init__(self, drv, base_url, assistant_id, page="/demo/index.html"):
        self.drv = drv
        self.base = base_url
        self.assistant_id = assistant_id
        self.page = page

    def load(self, open_panel=True):
        self.drv.get(f"{self.base}{self.page}?assistant={self.assistant_id}")
        wait_for(lambda: self.state() is not None, message="widget mounted")
        if open_panel and not self.state()["open"]:
            self.launcher().click()
            wait_for(lambda: self.state()["open"], message="panel open")
        return self

    def shadow(self):
        return self.drv.find_element(By.CSS_SELECTOR, "chatai-widget").shadow_root

    def launcher(self):
        return self.shadow().find_element(By.CSS_SELECTOR, ".launcher")

    def input(self):
        return self.shadow().find_element(By.CSS_SELECTOR, ".input")

    def state(self):
        return self.drv.execute_script(WIDGET_STATE_JS)

    def send(self, text):
        box = self.input()
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def stored(self):
        return [m for m in self.state()["messages"] if m["id"] is not None]

    def texts(self, sender=None):
        return [m["text"] for m in self.state()["messages"] if sender is None or m["sender"] == sender]

    def wait_text(self, text, sender=None, timeout=15):
        return wait_for(lambda: text in self.texts(sender), timeout, message=f"widget shows {text!r}")

    def saved_dialog(self):
        raw = self.drv.execute_script(
            "for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i);"
            " if (k.startsWith('chatai:')) return localStorage.getItem(k); } return null;")
        return json.loads(raw) if raw else None

    def record_typing(self):
        """Installs a recorder of every state the typing row goes through."""
        self.drv.execute_script("""
            const r = document.querySelector('chatai-widget').shadowRoot;
            const t = r.querySelector('.typing');
            window.__typingSeen = [];
            new MutationObserver(() => { if (!t.hidden) window.__typingSeen.push(t.dataset.who || t.textContent); })
              .observe(t, { attributes: true });
        """)

    def typing_seen(self):
        return self.drv.execute_script("return window.__typingSeen || []")


ADMIN_STATE_JS = LIST_JS + """
const $ = (s) => document.querySelector(s);
const conn = $('#connection');
return {
  signedIn: !$('#app-view').hidden,
  connection: conn.querySelector('.status-text').textContent,
  connectionClass: conn.querySelector('.status-dot').className,
  transport: conn.dataset.transport || '',
  dialogs: [...document.querySelectorAll('#dialog-list > li')].map((li) => ({
    id: Number(li.dataset.dialogId), status: li.dataset.status,
    preview: li.querySelector('.di-preview').textContent,
    unread: li.querySelector('.di-unread').textContent,
  })),
  open: $('#dialog-view').hidden ? null : $('#dialog-title').textContent,
  status: $('#dialog-status').textContent,
  messages: messagesIn(document, '#messages > .msg'),
  notices: noticesIn(document, '#messages > .notice'),
  typing: !$('#typing').hidden,
  page: $('#visitor-page').textContent,
  browser: $('#visitor-browser').textContent,
  title: document.title,
};
"""


class AdminPage:
    def __init__(self, drv, base_url):
        self.drv = drv
        self.base = base_url

    def login(self, email, password):
        self.drv.get(f"{self.base}/admin/")
        wait_for(lambda: self.drv.find_element(By.ID, "login-email").is_displayed(), message="login form")
        self.drv.find_element(By.ID, "login-email").send_keys(email)
        self.drv.find_element(By.ID, "login-password").send_keys(password)
        self.drv.find_element(By.ID, "login-submit").click()
        wait_for(lambda: self.state()["signedIn"], message="signed in")
        return self

    def with_token(self, token, dialog_id=None):
        """Signs in by putting a token where the panel keeps it (faster than the form)."""
        self.drv.get(f"{self.base}/admin/")
        self.drv.execute_script("sessionStorage.setItem('chatai.token', arguments[0])", token)
        self.drv.get(f"{self.base}/admin/" + (f"#dialog-{dialog_id}" if dialog_id else ""))
        self.drv.refresh()
        wait_for(lambda: self.state()["signedIn"], message="signed in")
        return self

    def state(self):
        return self.drv.execute_script(ADMIN_STATE_JS)

    def open_dialog(self, dialog_id, timeout=15):
        wait_for(lambda: any(d["id"] == dialog_id for d in self.state()["dialogs"]), timeout,
                 message=f"dialog {dialog_id} in the inbox")
        self.drv.find_element(By.CSS_SELECTOR, f'li[data-dialog-id="{dialog_id}"] button').click()
        wait_for(lambda: self.state()["open"] == f"Visitor #{dialog_id}", message="dialog open")

    def reply(self, text):
        box = self.drv.find_element(By.ID, "reply-input")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def texts(self, sender=None):
        return [m["text"] for m in self.state()["messages"] if sender is None or m["sender"] == sender]

    def wait_text(self, text, sender=None, timeout=15):
        return wait_for(lambda: text in self.texts(sender), timeout, message=f"panel shows {text!r}")

    def wait_connection(self, text, transport=None, timeout=30):
        def ok():
            s = self.state()
            return s["connection"] == text and (transport is None or s["transport"] == transport)
        return wait_for(ok, timeout, message=f"indicator {text!r} {transport or ''}")
