# SPDX-License-Identifier: MIT
"""The shared-hosting variant (docs/deploy.md, "Shared hosting"): a real Apache in
per-directory mode with the AllowOverride a typical host sets, the shipped .htaccess
unmodified, chatai.fcgi under mod_fcgid and under mod_cgi. Nothing tells chatai.fcgi where
its settings are: it finds ~/chatai.conf above its own directory."""

import os
import time

import pytest
import requests

import harness
import sharedhost


def _smoke(host):
    api = harness.Api(host.url)
    aid = harness.make_assistant(host.pg, "Shared", greeting="Hello from the shared host")
    email = f"shared-{time.time_ns()}@test.example"
    harness.make_operator(host.pg, email, "shared-pw-1", "Sue", "operator")
    d, vt, j = api.create_dialog(aid)
    assert j["messages"][0]["text"] == "Hello from the shared host"
    assert api.visitor_post(d, vt, "hi there", client_id="c-1").status_code == 201
    # the bearer token reaches the program (CGIPassAuth / the rewrite rule)
    tok = api.login(email, "shared-pw-1")
    assert api.op(tok).get("/api/me").json()["name"] == "Sue"
    texts = [m["text"] for m in api.op(tok).get(f"/api/dialogs/{d}/messages").json()]
    assert "hi there" in texts
    assert api.s.get("/api/me").status_code == 401
    # the static files, and what must never be served
    assert api.s.get("/widget/chatai.js").status_code == 200
    assert api.s.get("/admin/").status_code == 200
    assert api.s.get("/.htaccess").status_code == 403
    # a settings file in the web space (it belongs in ~, above it) is never served
    (host.docroot / "api" / "old.conf").write_text("database_url = postgresql://secret@db/x\n")
    assert api.s.get("/api/old.conf").status_code == 403
    assert api.s.get("/admin/").headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("mode,allow", [("fcgid", sharedhost.ALLOW_OVERRIDE), ("cgi", sharedhost.ALLOW_OVERRIDE),
                                        ("cgid", sharedhost.ALLOW_OVERRIDE), ("fcgid", "All")])
def test_shared_host_finds_its_settings(pg, mode, allow):
    host = sharedhost.SharedHost(pg, mode, allow_override=allow).start()
    try:
        assert (host.docroot / ".htaccess").read_bytes() == sharedhost.HTACCESS.read_bytes()
        _smoke(host)
        if mode == "fcgid":
            # a FastCGI process of its own, spawned by mod_fcgid as www-data, with no
            # CHATAI_CONFIG in its environment: it found ~/chatai.conf alone
            pids = sharedhost.processes_of(host.program)
            assert 1 <= len(pids) <= sharedhost.MAX_PROCS, pids
            for pid in pids:
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                assert not [e for e in env if e.startswith(b"CHATAI_")], env
                uid = int([ln for ln in open(f"/proc/{pid}/status") if ln.startswith("Uid:")][0].split()[1])
                assert uid == harness.pwd.getpwnam(harness.WEB_USER).pw_uid
        log = host.log()
        assert "database_url is not set" not in log and "End of script output" not in log, log
    finally:
        host.stop()
    assert sharedhost.processes_of(host.program) == [] or not os.path.exists(host.program)


def test_shared_host_without_authconfig_is_explained(pg):
    """Without AuthConfig the .htaccess cannot load (CGIPassAuth, Require): every URL
    answers 500 and Apache's log names the directive, as docs/deploy.md says."""
    host = sharedhost.SharedHost(pg, "cgi", allow_override="FileInfo Indexes Options=ExecCGI,Indexes").start()
    try:
        assert requests.get(host.url + "/admin/", timeout=10).status_code == 500
        harness.wait_until(lambda: "CGIPassAuth not allowed" in host.log(), timeout=5, message="the error log line")
    finally:
        host.stop()


@pytest.mark.parametrize("mode", ["fcgid", "cgi"])
def test_shared_host_under_suexec(pg, mode):
    """suexec runs chatai.fcgi as the account (here `nobody`), with a cleaned environment:
    it still finds ~/chatai.conf, which only the account may read (mode 600)."""
    if not os.access(sharedhost.SUEXEC, os.X_OK):
        raise harness.HarnessError(f"{sharedhost.SUEXEC} is missing: apt-get install apache2-suexec-pristine "
                                   "(scripts/lib.sh lists it)")
    host = sharedhost.SharedHost(pg, mode, suexec="nobody").start()
    try:
        assert oct(host.conf.stat().st_mode & 0o777) == "0o600"
        _smoke(host)
        if mode == "fcgid":
            pids = sharedhost.processes_of(host.program)
            assert pids
            nobody = harness.pwd.getpwnam("nobody").pw_uid
            for pid in pids:
                uid = int([ln for ln in open(f"/proc/{pid}/status") if ln.startswith("Uid:")][0].split()[1])
                assert uid == nobody
        log = host.log()
        assert "database_url is not set" not in log and "End of script output" not in log, log
    finally:
        host.stop()
