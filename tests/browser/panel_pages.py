# SPDX-License-Identifier: MIT
"""Page helpers for the panel's admin screens (issue 14): sections, forms, the composer."""

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import harness
from pages import wait_for

DESKTOP = (1280, 800)
PHONE = (390, 844)


def by_id(drv, i):
    return drv.find_element(By.ID, i)


def css(drv, sel):
    return drv.find_element(By.CSS_SELECTOR, sel)


def csss(drv, sel):
    return drv.find_elements(By.CSS_SELECTOR, sel)


def fill(drv, i, text):
    box = by_id(drv, i)
    box.clear()
    if text:
        box.send_keys(text)
    return box


def go(drv, view):
    """Opens a section from the nav (what a person clicks)."""
    css(drv, f'.nav-link[data-view="{view}"]').click()
    wait_for(lambda: by_id(drv, f"{view}-view").is_displayed(), message=f"{view} shown")


def shown(drv, i):
    el = by_id(drv, i)
    return el.is_displayed()


def text(drv, i):
    return by_id(drv, i).text


def screenshot(drv, artifacts, name, size):
    # Chromium's window cannot be narrower than 500 px: emulate the viewport (as test_chat does).
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 500})
    drv.execute_script("return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    path = Path(artifacts) / f"{name}-{size[0]}x{size[1]}.png"
    drv.save_screenshot(str(path))
    return path


def overflowing(drv):
    """Elements wider than the viewport (a phone layout problem), and the page itself taller
    than the screen (the panel scrolls inside its sections, never the whole page)."""
    return drv.execute_script("""
        const w = document.documentElement.clientWidth;
        const out = [];
        const de = document.documentElement;
        if (de.scrollHeight > de.clientHeight + 1) out.push(`page ${de.scrollHeight} > ${de.clientHeight}`);
        if (de.scrollWidth > de.clientWidth + 1) out.push(`page ${de.scrollWidth} wide > ${de.clientWidth}`);
        for (const n of document.querySelectorAll('body *')) {
          const r = n.getBoundingClientRect();
          if (r.width === 0 || n.closest('[hidden]')) continue;
          if (r.right > w + 1 && !n.closest('.table-wrap, .nav, .filters, .dialog-list, .kb-list, .messages')) {
            out.push(n.tagName + (n.id ? '#' + n.id : '') + '.' + n.className + ' ' + Math.round(r.right));
          }
        }
        return out.slice(0, 10);
    """)


def inert(drv):
    """True when no payload ran (the XSS payloads set window.__pwned)."""
    return drv.execute_script("return window.__pwned === undefined")


def new_operator(stack, email, password="operator-password-1", name="Olga Operator", role="operator"):
    oid = harness.make_operator(stack.pg, email, password, name, role)
    return oid, harness.Api(stack.url).login(email, password)


def composer_key(drv, *keys):
    by_id(drv, "reply-input").send_keys(*keys)


ENTER = Keys.ENTER
DOWN = Keys.ARROW_DOWN
ESC = Keys.ESCAPE
