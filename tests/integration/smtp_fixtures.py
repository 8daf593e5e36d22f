# SPDX-License-Identifier: MIT
"""A real SMTP server for the mail tests: Debian's python3-aiosmtpd on a free 127.0.0.1 port.

SmtpSink records every mail it accepts (envelope and parsed message). Its `mode` makes
it answer DATA with a 4xx ("4xx") or a 5xx ("5xx"), or accept and then hold the final
reply (`hold_nth`: the Nth DATA is recorded, `held` is set, and the 250 comes only
after `hold_seconds`): a sender killed during the hold is a sender killed after the
server took the mail, the window the outbox must not resend from.
"""

import asyncio
import email
import email.policy
import threading

from aiosmtpd.controller import Controller

import harness


class SmtpSink:
    def __init__(self):
        self.mails = []
        self.mode = None
        self.hold_nth = 0
        self.hold_seconds = 20
        self.held = threading.Event()
        self._datas = 0
        self._lock = threading.Lock()
        self.port = harness.free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def clear(self):
        with self._lock:
            self.mails.clear()
            self.mode = None
            self.hold_nth = 0
            self._datas = 0
            self.held.clear()

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "4xx":
            return "451 4.3.0 please try again later"
        if self.mode == "5xx":
            return "550 5.1.1 mailbox unavailable"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self._datas += 1
            n = self._datas
            self.mails.append({"from": envelope.mail_from, "rcpt": list(envelope.rcpt_tos), "msg": msg,
                               "raw": envelope.content})
        if n == self.hold_nth:
            self.held.set()
            await asyncio.sleep(self.hold_seconds)
        return "250 OK"

    def bodies(self, mail):
        """The text parts of a mail, decoded."""
        return [p.get_content() for p in mail["msg"].walk() if p.get_content_maintype() == "text"]
