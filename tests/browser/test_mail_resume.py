# SPDX-License-Identifier: MIT
"""Mail in the widget (issue 15), in headless Chromium against the real stack and a real
SMTP server (aiosmtpd): the email offer inside the conversation while the dialog waits,
the reply mail, and its resume link opened in a fresh browser profile: the same dialog,
the same history, and new messages flowing both ways. The first browser keeps the
dialog too (a resume adds a visitor token, dialog_visitor_tokens)."""

import json
import re

import harness
from pages import AdminPage, WidgetPage, wait_for
from smtp_fixtures import SmtpSink

PUBLIC = "http://shop.test.example"


def test_resume_link_continues_the_dialog_in_a_fresh_browser(make_stack, browser, artifacts):
    smtp = SmtpSink().start()
    try:
        env = {"CHATAI_SMTP_URL": smtp.url, "CHATAI_MAIL_FROM": "chat@shop.test.example",
               "CHATAI_PUBLIC_URL": PUBLIC, "CHATAI_MAIL_REPLY_DELAY": 0, "CHATAI_MAIL_ALERT_DELAY": 0}
        stack = make_stack(env=env)
        aid = harness.make_assistant(stack.pg, "Shop helper", greeting="Hi! Ask me anything.")
        harness.make_operator(stack.pg, "olga@shop.test.example", "olga-password-1", "Olga", "operator")
        api = harness.Api(stack.url)
        op = api.login("olga@shop.test.example", "olga-password-1")
        stack.pg.sql("UPDATE operators SET last_seen_at = NULL")

        first = WidgetPage(browser(), stack.url, aid).load()
        first.send("Is my order shipped?")
        did = wait_for(first.saved_dialog, message="dialog saved")["dialog_id"]
        first.shadow().find_element("css selector", ".handoff").click()
        offer = wait_for(lambda: first.shadow().find_elements("css selector", ".mail-offer"),
                         message="the email offer in the conversation")[0]
        assert "agree" in offer.text  # the consent line
        first.drv.save_screenshot(str(artifacts / "mail-offer.png"))
        offer.find_element("css selector", ".mail-input").send_keys("buyer@example.org")
        offer.find_element("css selector", ".mail-onclose").click()
        offer.find_element("css selector", ".mail-send").click()
        wait_for(lambda: any("buyer@example.org" in n["text"] for n in first.state()["notices"]),
                 message="we'll email you the answer")
        assert not first.shadow().find_elements("css selector", ".mail-offer")
        assert stack.pg.sql("SELECT email, transcript_on_close FROM dialog_contacts WHERE dialog_id = %s",
                            did) == [("buyer@example.org", True)]

        # the visitor leaves (panel closed: nothing is read), the operator answers
        first.launcher().click()
        wait_for(lambda: not first.state()["open"], message="panel closed")
        assert api.operator_post(op, did, "Yes, it left this morning.").status_code == 201
        harness.run_ctl(stack.pg.url, "mail", "--once", env=env)
        mails = [x for x in smtp.mails if "buyer@example.org" in x["rcpt"]]
        assert len(mails) == 1
        text = "\n".join(smtp.bodies(mails[0]))
        assert "Yes, it left this morning." in text
        m = re.search(re.escape(PUBLIC) + r"/(#chatai-resume=\d+\.[A-Za-z0-9_-]+)", text)
        assert m, text

        # the panel shows the contact and the reply's mail state
        panel = AdminPage(browser(), stack.url).with_token(op, did)
        wait_for(lambda: "buyer@example.org" in panel.drv.find_element("id", "visitor-contact").text,
                 message="the contact in the panel")
        wait_for(lambda: "mailed" in [e.text for e in panel.drv.find_elements("css selector", ".msg.manager .mail-mark")],
                 message="the reply marked mailed")

        # a fresh profile: another device
        second_drv = browser()
        second = WidgetPage(second_drv, stack.url, aid)
        second_drv.get(f"{stack.url}/demo/index.html?assistant={aid}{m.group(1)}")
        wait_for(lambda: second.state() is not None and second.state()["open"], message="resumed and open")
        second.wait_text("Is my order shipped?", "user")
        second.wait_text("Yes, it left this morning.", "manager")
        assert wait_for(second.saved_dialog)["dialog_id"] == did
        assert "chatai-resume" not in second_drv.current_url  # the token left the address bar
        # both ways
        second.send("Great, thanks!")
        wait_for(lambda: any(x["text"] == "Great, thanks!" for x in api.messages(op, did).json()),
                 message="the operator sees the resumed visitor's message")
        assert api.operator_post(op, did, "You're welcome.").status_code == 201
        second.wait_text("You're welcome.", "manager")
        wait_for(lambda: "seen" in [e.text for e in panel.drv.find_elements("css selector", ".msg.manager .mail-mark")],
                 timeout=25, message="the panel marks the read reply seen")
        # the first browser keeps the dialog (its token still works), shows what the
        # second wrote and the operator's answer, and what it writes reaches the second
        tok = json.loads(first.drv.execute_script(
            "for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i);"
            f" if (k.endsWith(':assistant:{aid}')) return localStorage.getItem(k); }} return null;"))["visitor_token"]
        assert api.visitor_messages(did, tok).status_code == 200
        first.launcher().click()
        first.wait_text("You're welcome.", "manager")
        first.wait_text("Great, thanks!", "user")
        assert first.saved_dialog()["dialog_id"] == did
        first.send("And from my laptop: one more thing.")
        wait_for(lambda: any(x["text"] == "And from my laptop: one more thing." for x in api.messages(op, did).json()),
                 message="the operator sees the first browser's message")
        assert api.operator_post(op, did, "Tell me.").status_code == 201
        for page in (first, second):
            page.wait_text("Tell me.", "manager")
        second.wait_text("And from my laptop: one more thing.", "user")  # read from the history
        # the same link again in a third profile still works within 30 days; a forged one does not
        third_drv = browser()
        third = WidgetPage(third_drv, stack.url, aid)
        third_drv.get(f"{stack.url}/demo/index.html?assistant={aid}#chatai-resume={did}.{'A' * 43}")
        wait_for(lambda: third.state() is not None, message="widget mounted")
        wait_for(lambda: any("expired" in n["text"] for n in third.state()["notices"]),
                 message="a forged link is refused")
        assert third.saved_dialog() is None
    finally:
        smtp.stop()
