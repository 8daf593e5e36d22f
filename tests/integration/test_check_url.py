# SPDX-License-Identifier: MIT
"""`chatai-ctl check --url URL`: a live install checked from outside, in plain words.
A full stack (lighttpd, notifier) passes every check; a shared host (the shipped .htaccess,
no notifier) passes with "none here" for the streams; a host where chatai.fcgi finds no
settings, one that ignores the .htaccess, and an address where nothing listens fail, each
with a line that says what to fix."""

import re
import subprocess

import pytest

import harness
import sharedhost


def check(url, *args):
    cp = subprocess.run([str(harness.binary("chatai-ctl")), "check", "--url", url, *args],
                        env=harness.base_env(), capture_output=True, text=True, timeout=60)
    lines = {}
    for ln in cp.stdout.splitlines():
        m = re.match(r"^(OK|WARN|FAIL) +([a-z]+): (.*)$", ln)
        if m:
            lines[m.group(2)] = (m.group(1), m.group(3))
    return cp, lines


def test_full_stack_passes_every_check(pg, tmp_path):
    st = harness.Stack(tmp_path / "full", pg=pg, notifier=True)
    try:
        aid = harness.make_assistant(pg, "Checked", greeting="Hi")
        cp, lines = check(st.url + "/", "--assistant", str(aid))
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert {k: v[0] for k, v in lines.items()} == {
            "api": "OK", "settings": "OK", "database": "OK", "polling": "OK", "sse": "OK", "websocket": "OK"}, cp.stdout
        assert lines["polling"][1].startswith("long-poll"), cp.stdout
        assert "unbuffered" in lines["sse"][1] and "101" in lines["websocket"][1]
        assert cp.stdout.rstrip().endswith("all good")
    finally:
        st.stop()


@pytest.fixture
def shared(pg):
    hosts = []

    def make(**kw):
        h = sharedhost.SharedHost(pg, kw.pop("mode", "fcgid"), **kw).start()
        hosts.append(h)
        return h
    yield make
    for h in hosts:
        h.stop()


def test_shared_host_passes_without_notifier(pg, shared):
    host = shared()
    aid = harness.make_assistant(pg, "Shared checked")
    cp, lines = check(host.url, "--assistant", str(aid))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert lines["settings"][0] == "OK" and lines["database"][0] == "OK"
    assert re.match(r"(short|long)-poll", lines["polling"][1]), cp.stdout
    assert lines["sse"] [0] == "OK" and "no notifier" in lines["sse"][1], cp.stdout
    assert lines["websocket"][0] == "OK" and "no notifier" in lines["websocket"][1], cp.stdout


def test_settings_not_found_is_explained(pg, shared):
    host = shared(mode="cgi")
    host.conf.unlink()  # chatai.fcgi now finds no chatai.conf above it
    cp, lines = check(host.url)
    assert cp.returncode == 1
    assert lines["api"][0] == "FAIL" and "500" in lines["api"][1]
    assert "database_url is not set" in lines["api"][1] and "chatai.conf" in lines["api"][1]
    assert lines["settings"][0] == "FAIL"
    assert "database_url is not set" in host.log()  # what the line tells to look for


def test_htaccess_ignored_is_explained(pg, shared):
    host = shared(allow_override="None")
    cp, lines = check(host.url)
    assert cp.returncode == 1
    assert lines["api"][0] == "FAIL" and "404" in lines["api"][1] and "AllowOverride" in lines["api"][1], cp.stdout


def test_nothing_listening():
    cp, lines = check(f"http://127.0.0.1:{harness.free_port()}")
    assert cp.returncode == 1 and lines["api"][0] == "FAIL" and "cannot reach" in lines["api"][1]
    cp, lines = check(f"http://127.0.0.1:{harness.free_port()}/chat/")
    assert lines["address"][0] == "WARN" and "root of a domain or subdomain" in lines["address"][1], cp.stdout
    bad = subprocess.run([str(harness.binary("chatai-ctl")), "check", "--url", "ftp://x"], capture_output=True,
                         text=True, env=harness.base_env())
    assert bad.returncode == 2 and "http://" in bad.stderr


def test_buffered_sse_and_blocked_websocket_are_explained(pg, tmp_path):
    """lighttpd that buffers responses (stream-response-body 0) and does not pass the
    upgrade on: the SSE and WebSocket lines fail and name the setting to fix."""
    notifier = harness.Notifier(pg).start()
    web = harness.WebServer("lighttpd", pg, notifier.port, logdir=tmp_path)
    conf = web.server_conf.read_text()
    assert "server.stream-response-body = 2" in conf and 'proxy.header = ( "upgrade" => "enable" )' in conf
    web.server_conf.write_text(conf.replace("server.stream-response-body = 2", "server.stream-response-body = 0")
                               .replace('proxy.header = ( "upgrade" => "enable" )', ""))
    web.start()
    try:
        aid = harness.make_assistant(pg, "Buffered")
        cp, lines = check(web.url, "--assistant", str(aid))
        assert cp.returncode == 1, cp.stdout
        assert lines["api"][0] == "OK" and lines["database"][0] == "OK"
        assert lines["sse"][0] == "FAIL" and "something buffers SSE" in lines["sse"][1], cp.stdout
        assert "stream-response-body" in lines["sse"][1]
        assert lines["websocket"][0] == "FAIL" and "upgrade" in lines["websocket"][1], cp.stdout
    finally:
        web.stop()
        notifier.stop()
