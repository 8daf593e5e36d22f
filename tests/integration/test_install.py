# SPDX-License-Identifier: MIT
"""`make install DESTDIR=...` lays out a working installation: programs, migrations, the
web/ tree, server configurations that lighttpd and Apache accept, systemd units that
point at installed programs, man pages; `make uninstall` takes it all away again."""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import harness

PREFIX = "/usr/local"


def make(*args, check=True):
    cp = subprocess.run(["make", "-C", str(harness.BUILD_DIR), "-s", *args], capture_output=True,
                        text=True, timeout=600)
    if check and cp.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} failed:\n{cp.stdout}\n{cp.stderr}")
    return cp


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    if not (harness.BUILD_DIR / "Makefile").exists():
        raise harness.HarnessError(f"{harness.BUILD_DIR} is not a configured build directory")
    d = tmp_path_factory.mktemp("destdir")
    make("install", f"DESTDIR={d}")
    return d


def installed(dest, path):
    return dest / path.lstrip("/")


def configured(var):
    """A value of the build's configuration (prefix, bindir...), as make sees it."""
    cp = subprocess.run(["make", "-C", str(harness.BUILD_DIR), "-s", "--no-print-directory",
                         "-f", "Makefile", "-f", "-", "print-var"],
                        input=f"print-var:\n\t@echo $({var})\n", capture_output=True, text=True)
    return cp.stdout.strip().splitlines()[-1]


def test_programs_and_sql(dest):
    bindir, sbindir, pkgdatadir = configured("bindir"), configured("sbindir"), configured("pkgdatadir")
    for p in (f"{bindir}/chatai-ctl", f"{bindir}/chatai.fcgi", f"{bindir}/chatai-ai",
              f"{sbindir}/chatai-notifier"):
        f = installed(dest, p)
        assert f.is_file() and os.access(f, os.X_OK), p
    sql = sorted(x.name for x in installed(dest, f"{pkgdatadir}/sql").glob("*.sql"))
    assert sql == sorted(x.name for x in harness.SQL_DIR.glob("[0-9]*_*.sql"))
    # the installed chatai-ctl finds the installed migrations by default (no --sql-dir)
    cp = subprocess.run([str(installed(dest, f"{bindir}/chatai-ctl")), "--help"], capture_output=True, text=True)
    assert cp.returncode == 0 and f"{pkgdatadir}/sql" in cp.stdout


def _web_sources(*parts):
    return {str(p.relative_to(harness.WEB_DIR)) for p in harness.WEB_DIR.rglob("*")
            if p.is_file() and p.parts[len(harness.WEB_DIR.parts)] in parts
            and not p.name.startswith(".") and p.name != "package.json" and not p.name.endswith("~")}


def test_web_tree(dest):
    web = installed(dest, configured("pkgdatadir") + "/web")
    for f in ("admin/index.html", "widget/chatai.js"):
        assert (web / f).is_file(), f
    got = {str(p.relative_to(web)) for p in web.rglob("*") if p.is_file()}
    assert got == _web_sources("admin", "widget", "shared")
    assert not list(web.rglob("*.mk"))
    # the demo shop is kept out of the production document root (issue 16, item 13)
    assert not (web / "demo").exists()
    examples = installed(dest, configured("pkgdatadir") + "/examples")
    got = {str(p.relative_to(examples)) for p in (examples / "demo").rglob("*") if p.is_file()}
    assert got == _web_sources("demo") and "demo/index.html" in got


def test_no_templates_installed_and_licence(dest):
    """The .in templates stay in the source tree; the licence and the release notes are
    installed with the documentation."""
    left = [str(p.relative_to(dest)) for p in dest.rglob("*.in")]
    assert left == []
    docdir = installed(dest, configured("docdir"))
    assert "MIT License" in (docdir / "LICENSE").read_text()
    news = (docdir / "NEWS").read_text()
    # the release notes are kept current: the entry on top is this version's
    top = re.search(r"^chatai (\S+) \(", news, re.M)
    assert top and top.group(1) == configured("PACKAGE_VERSION"), news[:400]


def test_rendered_configs_have_no_placeholders(dest):
    pkgdatadir = configured("pkgdatadir")
    files = [installed(dest, f"{pkgdatadir}/lighttpd/chatai.conf"),
             installed(dest, f"{pkgdatadir}/apache/chatai-site.conf"),
             installed(dest, f"{pkgdatadir}/apache/chatai-vhost.conf.example")]
    files += list(installed(dest, f"{PREFIX}/lib/systemd/system").glob("chatai-*.service"))
    files.append(installed(dest, configured("sysconfdir") + "/logrotate.d/chatai"))
    assert len(files) == 7
    for f in files:
        text = f.read_text()
        assert not re.search(r"@[A-Za-z_]+@", text), f
        # template-only comments are left out (the lighttpd header used to be garbled)
        assert not re.search(r"^#%", text, re.M), f
    lighttpd = files[0].read_text()
    assert "Placeholders" not in lighttpd and "libexec" not in lighttpd


def test_logrotate_covers_the_logs_we_write(dest):
    """logrotate.d/chatai names the standalone lighttpd's two logs, in a directory `make
    install` creates, and reopens them with SIGHUP through the instance's pid file."""
    conf = installed(dest, configured("pkgdatadir") + "/lighttpd/chatai.conf").read_text()
    logs = re.findall(r'^(?:server\.errorlog|accesslog\.filename)\s*=\s*"([^"]+)"', conf, re.M)
    pidfile = re.search(r'^server\.pid-file\s*=\s*"([^"]+)"', conf, re.M).group(1)
    rot = installed(dest, configured("sysconfdir") + "/logrotate.d/chatai").read_text()
    assert len(logs) == 2 and all(log in rot for log in logs), (logs, rot)
    assert installed(dest, os.path.dirname(logs[0])).is_dir()
    assert f'kill -HUP "$(cat {pidfile})"' in rot
    if shutil.which("logrotate"):
        cp = subprocess.run(["logrotate", "-d", "-s", "/dev/null",
                             str(installed(dest, configured("sysconfdir") + "/logrotate.d/chatai"))],
                            capture_output=True, text=True)
        assert cp.returncode == 0 and not re.search(r"^error:", cp.stderr, re.M), cp.stderr


def test_install_time_values_are_used(tmp_path):
    """`make install CHATAI_NOTIFIER_PORT=...` after `make` renders again (it used to keep
    the values of the build silently); the next plain `make` goes back to the defaults."""
    d = tmp_path / "dest"
    try:
        make("install", f"DESTDIR={d}", "CHATAI_NOTIFIER_PORT=18081", "CHATAI_SERVER_PORT=18080")
        pkg = installed(d, configured("pkgdatadir"))
        assert '"http://127.0.0.1:18081/ws/"' in (pkg / "apache/chatai-site.conf").read_text()
        lighttpd = (pkg / "lighttpd/chatai.conf").read_text()
        assert re.search(r"^server\.port\s*=\s*18080$", lighttpd, re.M)
        assert '"port" => 18081' in lighttpd
    finally:
        make()
    assert '"http://127.0.0.1:8081/ws/"' in (harness.BUILD_DIR / "apache-conf/chatai-site.conf").read_text()


def test_lighttpd_accepts_its_config(dest, tmp_path):
    conf = installed(dest, configured("pkgdatadir") + "/lighttpd/chatai.conf").read_text()
    assert f'"bin-path" => "{configured("bindir")}/chatai.fcgi"' in conf
    # lighttpd -tt loads the modules and checks everything but the paths it would write to
    conf = conf.replace(configured("pkgdatadir") + "/web", str(harness.WEB_DIR))
    for path in ("/var/log/chatai", configured("localstatedir") + "/log/chatai"):
        conf = conf.replace(path, str(tmp_path))
    f = tmp_path / "lighttpd.conf"
    f.write_text(conf)
    cp = subprocess.run(["/usr/sbin/lighttpd", "-tt", "-f", str(f)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_apache_accepts_the_site(dest, tmp_path):
    site = installed(dest, configured("pkgdatadir") + "/apache/chatai-site.conf")
    text = site.read_text().replace(configured("pkgdatadir") + "/web", str(harness.WEB_DIR))
    s = tmp_path / "site.conf"
    s.write_text(text)
    main = harness.render(harness.APACHE_TEMPLATE, {
        "BIND": "127.0.0.1", "PORT": harness.free_port(), "STATE_DIR": tmp_path, "ERRORLOG": tmp_path / "e.log",
        "ACCESSLOG": tmp_path / "a.log", "USER": "www-data", "GROUP": "www-data",
        "MODULES_DIR": "/usr/lib/apache2/modules", "FCGI_MODE": "fcgid", "SITE_CONF": s})
    (tmp_path / "fcgid").mkdir()
    m = tmp_path / "apache2.conf"
    m.write_text(main)
    for mode in ("fcgid", "external"):
        m.write_text(main.replace("Define CHATAI_FCGI_fcgid", f"Define CHATAI_FCGI_{mode}"))
        cp = subprocess.run(["/usr/sbin/apache2", "-t", "-f", str(m)], capture_output=True, text=True)
        assert cp.returncode == 0 and "Syntax OK" in cp.stderr, cp.stderr


def test_apache_vhost_example_passes_configtest_before_and_after_certbot(dest, tmp_path):
    """docs/deploy.md step 9 in order: the vhost example passes `apachectl configtest`
    before the certificate exists (port 80 serves the site), and after certbot (the TLS
    host turns on, port 80 redirects); with the balancer lines uncommented too."""
    pkgdatadir = configured("pkgdatadir")
    site = installed(dest, pkgdatadir + "/apache/chatai-site.conf").read_text()
    site_file = tmp_path / "chatai-site.conf"
    site_file.write_text(site.replace(pkgdatadir + "/web", str(harness.WEB_DIR)))
    live = tmp_path / "letsencrypt/live/chat.example.com"
    vhost = installed(dest, pkgdatadir + "/apache/chatai-vhost.conf.example").read_text()
    assert "/etc/letsencrypt/live/chat.example.com/fullchain.pem" in vhost
    vhost = vhost.replace("/etc/letsencrypt/live/chat.example.com", str(live))
    vhost = vhost.replace(f"{pkgdatadir}/apache/chatai-site.conf", str(site_file))
    vhost = vhost.replace("*:80>", "127.0.0.1:80>").replace("*:443>", "127.0.0.1:443>")
    balancer = installed(dest, pkgdatadir + "/apache/balancer.conf.example").read_text()
    (tmp_path / "chatai-balancer.conf").write_text(balancer)
    (tmp_path / "fcgid").mkdir()
    main = harness.render(harness.APACHE_TEMPLATE, {
        "BIND": "127.0.0.1", "PORT": harness.free_port(), "STATE_DIR": tmp_path, "ERRORLOG": tmp_path / "e.log",
        "ACCESSLOG": tmp_path / "a.log", "USER": "www-data", "GROUP": "www-data",
        "MODULES_DIR": "/usr/lib/apache2/modules", "FCGI_MODE": "fcgid", "SITE_CONF": tmp_path / "vhost.conf"})
    mods = "".join(f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n" for m in
                   ("ssl", "socache_shmcb", "proxy_balancer", "lbmethod_bybusyness", "slotmem_shm",
                    "proxy_hcheck"))
    main = main.replace("LoadModule proxy_http_module", mods + "LoadModule proxy_http_module", 1)
    main = f"Define APACHE_LOG_DIR {tmp_path}\n" + main.replace("Define CHATAI_FCGI_fcgid", "")
    m = tmp_path / "apache2.conf"
    m.write_text(main)

    def configtest(text):
        (tmp_path / "vhost.conf").write_text(text)
        cp = subprocess.run(["/usr/sbin/apache2", "-t", "-f", str(m)], capture_output=True, text=True)
        assert cp.returncode == 0 and "Syntax OK" in cp.stderr, cp.stdout + cp.stderr
        cp = subprocess.run(["/usr/sbin/apache2", "-t", "-D", "DUMP_VHOSTS", "-f", str(m)], capture_output=True,
                            text=True)
        return cp.stdout

    hosts = configtest(vhost)  # no certificate yet
    assert ":443" not in hosts and ":80" in hosts
    live.mkdir(parents=True)
    cp = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                         "/CN=chat.example.com", "-keyout", str(live / "privkey.pem"), "-out",
                         str(live / "fullchain.pem")], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    hosts = configtest(vhost)  # certbot has run
    assert ":443" in hosts and ":80" in hosts
    on = vhost.replace("#Define CHATAI_NOTIFIER_BALANCER", "Define CHATAI_NOTIFIER_BALANCER")
    on = on.replace("#Include /etc/apache2/chatai-balancer.conf", f"Include {tmp_path}/chatai-balancer.conf")
    assert on.count("CHATAI_NOTIFIER_BALANCER") == vhost.count("CHATAI_NOTIFIER_BALANCER") and on != vhost
    configtest(on)


def test_systemd_units(dest, tmp_path):
    units = installed(dest, f"{PREFIX}/lib/systemd/system")
    bindir, sbindir, sysconfdir = configured("bindir"), configured("sbindir"), configured("sysconfdir")
    want = {"chatai-notifier.service": f"{sbindir}/chatai-notifier",
            "chatai-ai.service": f"{bindir}/chatai-ai",
            "chatai-fcgi.service": f"{bindir}/chatai.fcgi"}
    for name, exe in want.items():
        text = (units / name).read_text()
        execstart = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
        assert execstart == exe and installed(dest, exe).is_file()
        assert f"--config {sysconfdir}/chatai.conf" in text
        for line in ("User=chatai", "NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure"):
            assert line in text.splitlines(), (name, line)
    assert "u chatai" in installed(dest, f"{PREFIX}/lib/sysusers.d/chatai.conf").read_text()
    if shutil.which("systemd-analyze"):
        # verify against the installed binaries: point ExecStart into DESTDIR
        for name in want:
            text = (units / name).read_text()
            text = re.sub(r"^ExecStart=/", f"ExecStart={dest}/", text, flags=re.M)
            (tmp_path / name).write_text(text)
        cp = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(tmp_path / n) for n in want]],
                            capture_output=True, text=True)
        errors = [line for line in cp.stderr.splitlines()
                  if "chatai" in line and "Unknown key" not in line and "Failed to" not in line]
        assert not errors, cp.stderr


MAN_PAGES = ("man5/chatai.conf.5", "man8/chatai-ctl.8", "man8/chatai-notifier.8", "man8/chatai-ai.8",
             "man8/chatai.fcgi.8")
# A font macro argument such as "answer": (a quote that closes before a non-space) is eaten
# by roff: `.B {"question": ..., "answer": ...}` rendered as {"question": ..., answer : ...}.
ROFF_QUOTE_TRAP = re.compile(r'^\.(?:B|I|BR|RB|IR|RI|BI|IB|SM|SB)\s.*(?:^|\s)"[^"\s]*"[^\s]')
# What must never survive into the rendered text: escapes, requests, placeholders.
STRAY = re.compile(r'\\[fe(*\[&-]|^\s*\.[A-Za-z]{1,2}(?:\s|$)|@[A-Za-z_]+@', re.M)


def test_man_pages_render_cleanly(dest):
    """`man -l` of every installed page: groff -ww finds nothing to warn about, and the text
    shows no stray markup (issue 16: chatai-ctl(8)'s JSON example lost its quotes)."""
    mandir = configured("mandir")
    assert shutil.which("groff"), "groff is missing (scripts/lib.sh installs it)"
    for p in MAN_PAGES:
        f = installed(dest, f"{mandir}/{p}")
        assert f.is_file(), p
        src = f.read_text()
        assert not re.search(r"@[A-Za-z_]+@", src), p
        bad = [line for line in src.splitlines() if ROFF_QUOTE_TRAP.search(line)]
        assert not bad, (p, bad)
        cp = subprocess.run(["groff", "-man", "-ww", "-z", str(f)], capture_output=True, text=True)
        assert cp.returncode == 0 and not cp.stderr.strip(), (p, cp.stderr)
        cp = subprocess.run(["man", "--warnings", "-l", str(f)], capture_output=True, text=True,
                            env={**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MANPAGER": "cat",
                                 "PAGER": "cat"})
        assert cp.returncode == 0 and not cp.stderr.strip(), (p, cp.stderr)
        text = re.sub(r".\x08", "", cp.stdout)  # overstrike bold/underline, if any
        assert "NAME" in text and "SEE ALSO" in text, p
        m = STRAY.search(text)
        assert not m, (p, m.group(0), text[max(0, m.start() - 80):m.end() + 80])
        if p == "man8/chatai-ctl.8":
            assert '{"question": ..., "answer": ...}' in text
        if p == "man8/chatai-ai.8":
            assert "SIGHUP" in text
        if p == "man8/chatai.fcgi.8":
            for word in ("--listen", "CGI", "SIGTERM", "fcgi_db_pool", "inherited socket"):
                assert word in text, word
    # chatai-ai reloads on SIGHUP: its unit says how
    unit = installed(dest, f"{PREFIX}/lib/systemd/system/chatai-ai.service").read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit.splitlines()


def test_man_pages_and_example(dest):
    example = installed(dest, configured("pkgdatadir") + "/examples/chatai.conf.example")
    keys = {m.group(1) for m in re.finditer(r"^#?([a-z_]+) = ", example.read_text(), re.M)}
    # every key of docs/internals.md is in the example
    doc = (harness.REPO / "docs" / "internals.md").read_text()
    flat = set()
    for row in re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", doc, re.M):
        flat |= set(re.findall(r"`([a-z_]+)`", row))
    assert flat and flat <= keys, flat - keys


def test_example_config_is_accepted_by_chatai_ctl(dest, pg, tmp_path):
    example = installed(dest, configured("pkgdatadir") + "/examples/chatai.conf.example").read_text()
    conf = tmp_path / "chatai.conf"
    notifier = harness.Notifier(pg).start()  # the example sets notifier_listen: check asks it
    try:
        text = re.sub(r"^database_url = .*$", f"database_url = {pg.url}", example, flags=re.M)
        text = re.sub(r"^notifier_listen = .*$", f"notifier_listen = 127.0.0.1:{notifier.port}", text, flags=re.M)
        conf.write_text(text)
        conf.chmod(0o640)
        ctl = installed(dest, configured("bindir") + "/chatai-ctl")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
        argv = [str(ctl), "--config", str(conf), "check", "--sql-dir", str(harness.SQL_DIR),
                "--web-dir", str(installed(dest, configured("pkgdatadir") + "/web"))]
        cp = subprocess.run(argv, capture_output=True, text=True, env=env)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert cp.stdout.startswith(f"OK   settings: {conf}")
        assert "OK   notifier:" in cp.stdout and "OK   web:" in cp.stdout
        # every commented-out line of the example, uncommented with its trailing comment,
        # is still accepted: the comment is not part of the value (issue 16, item 10)
        lines = []
        for line in text.splitlines():
            m = re.match(r"^#([a-z_]+) = ", line)
            if m and m.group(1) not in ("redis_url", "ai_base_url", "ai_model", "ai_api_key", "fcgi_listen"):
                line = line[1:]
            lines.append(line)
        conf.write_text("\n".join(lines) + "\n")
        cp = subprocess.run(argv, capture_output=True, text=True, env=env)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    finally:
        notifier.stop()


def test_uninstall_removes_everything(tmp_path):
    d = tmp_path / "dest"
    make("install", f"DESTDIR={d}")
    make("uninstall", f"DESTDIR={d}")
    left = [str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() or p.is_symlink()]
    assert left == []


# ---- docs/deploy.md, followed step by step in a scratch root ---------------------------

def _deploy_md_configure_line():
    """The configure line of docs/deploy.md's step 2, as written there."""
    text = (harness.REPO / "docs" / "deploy.md").read_text()
    step = re.search(r"^## 2\. Build and install\n(.*?)^## ", text, re.M | re.S).group(1)
    line = re.search(r"^\./configure( [^\n#]*?)\s*$", step, re.M).group(1).split()
    readme = (harness.REPO / "README.md").read_text()
    # the README's short version says the same
    assert f"./configure {' '.join(line)}" in readme, "README.md and docs/deploy.md differ on configure"
    return line


def test_production_steps_of_deploy_md(tmp_path):
    """Issue 16, "Done when": docs/deploy.md's production steps in a scratch root. configure
    as documented, make, make install DESTDIR, the system user, a fresh database migrated,
    the settings file, an operator, the notifier, chatai-ctl check (and its failure on a
    misspelt key), then one request through the rendered lighttpd configuration; and the
    log rotation that logrotate.d/chatai does."""
    opts = _deploy_md_configure_line()
    assert opts == ["--prefix=/usr/local", "--sysconfdir=/etc", "--localstatedir=/var"], opts
    # the web server's user (www-data, once lighttpd drops root) must reach the files
    scratch = harness._world_dir("chatai-deploy-")
    build, root, run = tmp_path / "build", scratch / "root", scratch / "run"
    build.mkdir()
    run.mkdir()
    # step 2: out of tree, so that the checkout's own build is left alone
    cp = subprocess.run([str(harness.REPO / "configure"), *opts], cwd=build, capture_output=True, text=True,
                        timeout=600)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    for args in (["-j2"], ["install", f"DESTDIR={root}"]):
        cp = subprocess.run(["make", "-s", *args], cwd=build, capture_output=True, text=True, timeout=900)
        assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    pkg = root / "usr/local/share/chatai"
    ctl_bin, fcgi_bin = root / "usr/local/bin/chatai-ctl", root / "usr/local/bin/chatai.fcgi"
    assert (root / "var/log/chatai").is_dir()  # the standalone lighttpd's logs
    # step 3: the system user, in the scratch root
    if shutil.which("systemd-sysusers"):
        (root / "etc").mkdir(exist_ok=True)
        cp = subprocess.run(["systemd-sysusers", f"--root={root}", str(root / "usr/local/lib/sysusers.d/chatai.conf")],
                            capture_output=True, text=True)
        assert cp.returncode == 0 and "chatai:" in (root / "etc/passwd").read_text(), cp.stderr
    # step 4: a fresh database
    pg = harness.Postgres(tmp_path / "pg", migrate=False).start()
    procs = []
    try:
        # step 5: the settings file from the example, mode 640
        conf = root / "etc/chatai.conf"
        conf.parent.mkdir(exist_ok=True)
        subprocess.run(["install", "-m", "640", str(pkg / "examples/chatai.conf.example"), str(conf)], check=True)
        notifier_port = harness.free_port()
        text = conf.read_text()
        text = re.sub(r"^database_url = .*$", f"database_url = {pg.url}", text, flags=re.M)
        text = re.sub(r"^notifier_listen = .*$", f"notifier_listen = 127.0.0.1:{notifier_port}", text, flags=re.M)
        conf.write_text(text)
        assert oct(conf.stat().st_mode & 0o777) == "0o640"
        lconf = (pkg / "lighttpd/chatai.conf").read_text()
        server_user = re.search(r'^server\.username\s*=\s*"([^"]+)"', lconf, re.M)
        if server_user:
            # step 5: the web server's user may read the file (here: the file's group is its
            # group, as `usermod -aG chatai www-data` does on a real system)
            import pwd
            pw = pwd.getpwnam(server_user.group(1))
            os.chown(conf, 0, pw.pw_gid)
            os.chown(run, pw.pw_uid, pw.pw_gid)
            # what `make install` does as root without DESTDIR: lighttpd opens its logs
            # after dropping root
            os.chown(root / "var/log/chatai", pw.pw_uid, 0)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
        # the installed programs look in /usr/local and /etc; here they are under the root
        env.update(CHATAI_CONFIG=str(conf), CHATAI_SQL_DIR=str(pkg / "sql"), CHATAI_WEB_DIR=str(pkg / "web"))

        def ctl(*args, stdin=None):
            return subprocess.run([str(ctl_bin), *args], input=stdin, env=env, capture_output=True, text=True,
                                  timeout=60)

        # step 6: migrations
        cp = ctl("migrate")
        assert cp.returncode == 0, cp.stdout + cp.stderr
        # every migration of the tree was installed and applied, in order
        files = sorted((p.name for p in harness.SQL_DIR.glob("[0-9]*_*.sql")), key=lambda n: int(n.split("_")[0]))
        assert [ln for ln in cp.stdout.splitlines() if ln.startswith("applied ")] == \
            [f"applied {f}" for f in files], cp.stdout
        # step 7: an operator (password on stdin)
        cp = ctl("operator", "add", "ann@shop.example", "Ann", "--role", "admin", stdin="a long password\n")
        assert cp.returncode == 0, cp.stderr
        cp = ctl("assistant", "add", "Shop assistant", "--greeting", "Hi! How can I help?")
        assert cp.returncode == 0, cp.stderr
        assistant = int(cp.stdout.strip())
        # step 8: the notifier (what the unit starts)
        n = harness.Process([root / "usr/local/sbin/chatai-notifier", "--config", conf], env=env,
                            log_path=tmp_path / "notifier.log").start()
        procs.append(n)
        n.wait_port(notifier_port)
        # step 6 again: check passes, then fails on a misspelt key
        cp = ctl("check")
        assert cp.returncode == 0, cp.stdout + cp.stderr
        for what in ("settings", "web", "notifier", "database", "schema"):
            assert re.search(rf"^OK   {what}: ", cp.stdout, re.M), (what, cp.stdout)
        conf.write_text(text + "log_levle = debug\n")
        cp = ctl("check")
        assert cp.returncode == 1, cp.stdout
        assert "unknown key 'log_levle' (did you mean log_level?)" in cp.stdout
        conf.write_text(text)
        # step 9: the rendered lighttpd configuration, its paths moved into the root
        port = harness.free_port()
        lconf = re.sub(r'^server\.bind\s*=.*$', 'server.bind = "127.0.0.1"', lconf, flags=re.M)
        lconf = re.sub(r'^server\.port\s*=.*$', f"server.port = {port}", lconf, flags=re.M)
        lconf = lconf.replace('"port" => 8081', f'"port" => {notifier_port}')
        lconf = lconf.replace("/run/lighttpd-chatai.pid", str(run / "lighttpd.pid"))
        lconf = lconf.replace("/run/lighttpd/chatai-fcgi.sock", str(run / "chatai-fcgi.sock"))
        lconf = lconf.replace('server.upload-dirs = ( "/var/tmp" )', f'server.upload-dirs = ( "{run}" )')
        for path in ("/usr/local/share/chatai", "/usr/local/bin", "/etc/chatai.conf", "/var/log/chatai",
                     "/var/lib/chatai"):
            lconf = lconf.replace(f'"{path}', f'"{root}{path}')
        left = re.findall(r'"(?:/usr|/etc|/var)[^"]*"', lconf)
        assert not left, f"paths of the config not moved under the root: {left}"
        lf = tmp_path / "lighttpd.conf"
        lf.write_text(lconf)
        web = harness.Process(["/usr/sbin/lighttpd", "-D", "-f", lf], env=env, log_path=tmp_path / "lighttpd.out")
        procs.append(web.start())
        web.wait_port(port)
        import requests
        base = f"http://127.0.0.1:{port}"
        r = requests.post(f"{base}/api/auth/login", json={"email": "ann@shop.example", "password": "a long password"},
                          timeout=20)
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        r = requests.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert r.status_code == 200 and r.json()["name"] == "Ann", r.text
        assert requests.get(f"{base}/admin/", timeout=10).status_code == 200
        assert requests.get(f"{base}/widget/chatai.js", timeout=10).status_code == 200
        assert requests.get(f"{base}/demo/", timeout=10).status_code == 404  # not in production
        # a visitor: a dialog and a long-poll; at log_level info (the example's) nothing is
        # logged per request (issue 16, item 14: shared hosts' error logs filled up)
        r = requests.post(f"{base}/api/widget/dialogs", json={"assistant_id": assistant}, timeout=20)
        assert r.status_code == 201, r.text
        d = r.json()
        r = requests.get(f"{base}/api/widget/dialogs/{d['dialog_id']}/messages?after=1&wait=1",
                         headers={"X-Visitor-Token": d["visitor_token"]}, timeout=20)
        assert r.status_code == 200, r.text
        errors = (root / "var/log/chatai/chatai-error.log").read_text()
        for line in ("longpoll: listening", "session", "widget: dialog"):
            assert line not in errors, errors
        # logrotate.d/chatai, run for real on the scratch root: the logs are moved and
        # recreated, and its postrotate (SIGHUP) makes lighttpd write into the new ones
        logs = root / "var/log/chatai"
        access = logs / "chatai-access.log"
        harness.wait_until(lambda: access.exists() and "/api/me" in access.read_text(), message="access log")
        rot = (root / "etc/logrotate.d/chatai").read_text()
        assert "/var/log/chatai/chatai-access.log" in rot and "/run/lighttpd-chatai.pid" in rot
        rot = rot.replace("/var/log/chatai", str(logs)).replace("/run/lighttpd-chatai.pid", str(run / "lighttpd.pid"))
        rconf = tmp_path / "logrotate.conf"
        rconf.write_text(rot)
        if shutil.which("logrotate"):
            cp = subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"), str(rconf)],
                                capture_output=True, text=True, timeout=60)
            assert cp.returncode == 0, cp.stderr
        else:  # what it does, by hand
            access.rename(logs / "chatai-access.log.1")
            access.touch()
            if server_user:
                os.chown(access, pw.pw_uid, pw.pw_gid)
            os.kill(int((run / "lighttpd.pid").read_text()), signal.SIGHUP)
        assert "/api/me" in (logs / "chatai-access.log.1").read_text()
        marker = "/admin/?after-rotation"
        requests.get(f"{base}{marker}", timeout=10)
        harness.wait_until(lambda: marker in access.read_text(), message="a request in the new access log")
        assert web.running
    finally:
        for p in reversed(procs):
            p.stop()
        pg.destroy()
        shutil.rmtree(scratch, ignore_errors=True)


def test_docs_give_commands_that_work_as_written():
    """What the sysadmin's review found wrong in README.md and docs/deploy.md stays fixed:
    no static build promised, the web server joins the daemon's group (not the reverse),
    PostgreSQL tools run as postgres (root has no role), peer authentication mapped for
    www-data, sql/*.sql by hand in single transactions, the release notes exist."""
    docs = {n: (harness.REPO / n).read_text() for n in ("README.md", "docs/deploy.md")}
    for name, text in docs.items():
        assert "statically" not in text, name
        assert "usermod -aG www-data chatai" not in text, name
        assert "usermod -aG chatai www-data" in text, name
        for line in re.findall(r"^.*\bpg_(?:dump|restore) .*$", text, re.M):
            assert "runuser -u postgres --" in line or "-d \"postgresql://" in line, (name, line)
        assert not re.search(r"^\s*sudo -u postgres", text, re.M), name
    deploy = docs["docs/deploy.md"]
    assert "peer map=chatai" in deploy and re.search(r"^chatai\s+www-data\s+chatai$", deploy, re.M)
    assert "psql -1 -v ON_ERROR_STOP=1 -f" in deploy
    assert "AppArmor" in deploy and "httpd_can_network_connect_db" in deploy
    assert (harness.REPO / "NEWS").is_file() and "NEWS" in docs["README.md"]


# ---- the licence: one SPDX line in every source file -----------------------------------
# (the rules below are what added the lines; a new file gets its line the same way)

SPDX_TAG = "SPDX-License-Identifier: MIT"
SPDX_SKIP = re.compile(r"^(tests/fuzz/corpus/|tests/artifacts/|build-aux/|m4/|autom4te\.cache/|build[^/]*/)"
                  r"|(^|/)node_modules/|(^|/)package(-lock)?\.json$")
SPDX_BY_EXT = {".c": "/* {} */", ".h": "/* {} */", ".js": "/* {} */", ".mjs": "/* {} */", ".css": "/* {} */",
          ".sql": "-- {}", ".lua": "-- {}", ".py": "# {}", ".sh": "# {}", ".mk": "# {}", ".am": "# {}",
          ".ac": "# {}", ".sysusers": "# {}", ".example": "# {}", ".html": "<!-- {} -->"}
SPDX_BY_NAME = {"scripts/build": "# {}", "scripts/demo": "# {}", "scripts/test": "# {}", ".ci/run": "# {}",
           "apache-conf/htaccess": "# {}"}


def spdx_comment_for(path):
    """The comment line for path (relative, with /), or None when it is not a source."""
    if SPDX_SKIP.search(path):
        return None
    if path in SPDX_BY_NAME:
        return SPDX_BY_NAME[path].format(SPDX_TAG)
    if path.endswith(".in"):
        if path.startswith("man/"):
            return '.\\" ' + SPDX_TAG
        return "# " + SPDX_TAG  # lighttpd, apache, systemd, logrotate templates
    for ext, fmt in SPDX_BY_EXT.items():
        if path.endswith(ext):
            return fmt.format(SPDX_TAG)
    return None


def spdx_insert_at(lines):
    """Index where the line goes: after a shebang, an XML declaration or a doctype."""
    if lines and (lines[0].startswith("#!") or lines[0].lower().startswith(("<!doctype", "<?xml"))):
        return 1
    return 0


def test_every_source_file_names_the_licence():
    """LICENSE is MIT, and every source file (C, headers, SQL, shell, Python, JavaScript,
    CSS, HTML, Lua, the .in templates, the make files) says so in one SPDX line near its top."""
    assert (harness.REPO / "LICENSE").read_text().startswith("MIT License")
    if (harness.REPO / ".git").exists():
        files = subprocess.run(["git", "-C", str(harness.REPO), "ls-files"], capture_output=True,
                               text=True).stdout.split()
    else:  # a tarball
        files = [str(p.relative_to(harness.REPO)) for p in harness.REPO.rglob("*") if p.is_file()]
    missing, checked = [], 0
    for f in files:
        line = spdx_comment_for(f)
        if line is None or not (harness.REPO / f).is_file():
            continue
        checked += 1
        head = (harness.REPO / f).read_text(errors="replace").splitlines()[:3]
        if line not in head:
            missing.append(f)
    assert checked > 100 and not missing, f"no `{SPDX_TAG}` line in: {missing}"
