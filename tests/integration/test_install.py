"""`make install DESTDIR=...` lays out a working installation: programs, migrations, the
web/ tree, server configurations that lighttpd and Apache accept, systemd units that
point at installed programs, man pages; `make uninstall` takes it all away again."""

import os
import re
import shutil
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


def test_web_tree(dest):
    web = installed(dest, configured("pkgdatadir") + "/web")
    for f in ("admin/index.html", "widget/chatai.js", "demo/index.html"):
        assert (web / f).is_file(), f
    src = {str(p.relative_to(harness.WEB_DIR)) for p in harness.WEB_DIR.rglob("*")
           if p.is_file() and p.parts[len(harness.WEB_DIR.parts)] in ("admin", "widget", "shared", "demo")
           and not p.name.startswith(".") and p.name != "package.json"}
    got = {str(p.relative_to(web)) for p in web.rglob("*") if p.is_file()}
    assert got == src
    assert not list(web.rglob("*.mk"))


def test_rendered_configs_have_no_placeholders(dest):
    pkgdatadir = configured("pkgdatadir")
    files = [installed(dest, f"{pkgdatadir}/lighttpd/chatai.conf"),
             installed(dest, f"{pkgdatadir}/apache/chatai-site.conf"),
             installed(dest, f"{pkgdatadir}/apache/chatai-vhost.conf.example")]
    files += list(installed(dest, f"{PREFIX}/lib/systemd/system").glob("chatai-*.service"))
    assert len(files) == 6
    for f in files:
        text = f.read_text()
        assert not re.search(r"@[A-Za-z_]+@", text), f


def test_lighttpd_accepts_its_config(dest, tmp_path):
    conf = installed(dest, configured("pkgdatadir") + "/lighttpd/chatai.conf").read_text()
    assert f'"bin-path" => "{configured("bindir")}/chatai.fcgi"' in conf
    # lighttpd -tt loads the modules and checks everything but the paths it would write to
    conf = conf.replace(configured("pkgdatadir") + "/web", str(harness.WEB_DIR))
    for path in ("/var/log/lighttpd", configured("localstatedir") + "/log/lighttpd"):
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


def test_man_pages_and_example(dest):
    mandir = configured("mandir")
    for p in ("man5/chatai.conf.5", "man8/chatai-ctl.8", "man8/chatai-notifier.8", "man8/chatai-ai.8"):
        f = installed(dest, f"{mandir}/{p}")
        assert f.is_file(), p
        cp = subprocess.run(["man", "--warnings", "-l", str(f)], capture_output=True, text=True,
                            env={**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
        assert cp.returncode == 0 and not cp.stderr.strip(), (p, cp.stderr)
        assert not re.search(r"@[A-Za-z_]+@", f.read_text()), p
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
    conf.write_text(re.sub(r"^database_url = .*$", f"database_url = {pg.url}", example, flags=re.M))
    ctl = installed(dest, configured("bindir") + "/chatai-ctl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
    cp = subprocess.run([str(ctl), "--config", str(conf), "check", "--sql-dir", str(harness.SQL_DIR)],
                        capture_output=True, text=True, env=env)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert cp.stdout.startswith(f"OK   settings: {conf}")


def test_uninstall_removes_everything(tmp_path):
    d = tmp_path / "dest"
    make("install", f"DESTDIR={d}")
    make("uninstall", f"DESTDIR={d}")
    left = [str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() or p.is_symlink()]
    assert left == []
