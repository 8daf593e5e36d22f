# SPDX-License-Identifier: MIT
"""A small local stand-in for an OpenAI-compatible chat-completions service.

The real service cannot be reached from the test machines; this one speaks the same
wire format on 127.0.0.1 (http.server in a thread) so that chatai-ai's libcurl client,
its JSON codecs and its error handling run for real.

    llm = FakeLLM().start()        # free port; llm.base_url == "http://127.0.0.1:PORT/v1"
    llm.mode = "success"           # success | error500 | malformed | empty | slow | notfound
    llm.requests                   # every request received: {"path", "headers", "body"}
    llm.stop()

In "success" mode the answer is "LLM answer: " followed by the last user turn (so a test
can see which question was answered); llm.reply overrides it. "slow" sleeps llm.delay
seconds before answering (to pass the worker's ai_timeout).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self, mode="success", delay=5.0):
        self.mode = mode
        self.delay = delay
        self.reply = None
        self.requests = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body, ctype="application/json"):
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): fine

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body, "raw": raw})
                    mode = fake.mode
                if self.path != "/v1/chat/completions" or mode == "notfound":
                    self._send(404, json.dumps({"error": {"message": "not found"}}))
                    return
                if mode == "error500":
                    self._send(500, json.dumps({"error": {"message": "internal error"}}))
                    return
                if mode == "malformed":
                    self._send(200, '{"choices": [{"message": {"content": "half')
                    return
                if mode == "slow":
                    time.sleep(fake.delay)
                if mode == "empty":
                    content = "   "
                else:
                    last_user = ""
                    for m in (body or {}).get("messages", []):
                        if m.get("role") == "user":
                            last_user = m.get("content", "")
                    content = fake.reply if fake.reply is not None else f"LLM answer: {last_user}"
                self._send(200, json.dumps({
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": (body or {}).get("model", ""),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


if __name__ == "__main__":
    # By hand: python3 tests/integration/fake_llm.py [mode]
    import sys
    f = FakeLLM(mode=sys.argv[1] if len(sys.argv) > 1 else "success").start()
    print(f.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        f.stop()
