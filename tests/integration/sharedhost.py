# SPDX-License-Identifier: MIT
"""A shared host in a box: Apache in per-directory (.htaccess) mode, as a hosting company
sets it up, with the shipped apache-conf/htaccess unmodified and chatai.fcgi under
mod_fcgid or plain CGI (mod_cgi). No notifier, no AI daemon, no cron.

    host = SharedHost(pg, "fcgid").start()     # or "cgi"
    api = harness.Api(host.url)

The account's files, staged where Apache's user (www-data) may read them, whatever the
checkout's location:

    BASE/home/chatai.conf                     the settings, outside the web space
    BASE/home/public_html/.htaccess           apache-conf/htaccess, byte for byte
    BASE/home/public_html/{admin,widget,...}  web/
    BASE/home/public_html/api/chatai.fcgi     the program, mode 755

Nothing passes CHATAI_CONFIG: chatai.fcgi finds ~/chatai.conf by itself (common/config.c).
The server allows what a typical shared host allows: ALLOW_OVERRIDE below (or "All"),
Options SymLinksIfOwnerMatch, mod_rewrite, mod_headers, mod_env, mod_fcgid or mod_cgi,
and at most MAX_PROCS chatai.fcgi processes per account (FcgidMaxProcessesPerClass).
"""

import grp
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import harness

HTACCESS = harness.REPO / "apache-conf" / "htaccess"
# What the shipped .htaccess needs (docs/deploy.md, "Shared hosting"): FileInfo for
# mod_rewrite, SetHandler, Header and DirectoryIndex; AuthConfig for CGIPassAuth and
# Require; Indexes for DirectoryIndex; Options=ExecCGI,Indexes for its Options lines.
ALLOW_OVERRIDE = "AuthConfig FileInfo Indexes Options=ExecCGI,Indexes"
MAX_PROCS = 4
SUEXEC = "/usr/lib/apache2/suexec"
SUEXEC_DOCROOT = "/var/www"  # AP_DOC_ROOT of Debian's suexec

CONF = """\
# A shared host's Apache (written by tests/integration/sharedhost.py)
ServerRoot "/etc/apache2"
ServerName 127.0.0.1
Listen {bind}:{port}
PidFile "{run}/apache2.pid"
DefaultRuntimeDir "{run}"
Mutex file:{run} default
ErrorLog "{errorlog}"
LogLevel warn
User {user}
Group {user}
Timeout 120
KeepAlive On
ServerTokens Prod

LoadModule {mpm}_module {mods}/mod_{mpm}.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule mime_module {mods}/mod_mime.so
LoadModule dir_module {mods}/mod_dir.so
LoadModule headers_module {mods}/mod_headers.so
LoadModule env_module {mods}/mod_env.so
LoadModule rewrite_module {mods}/mod_rewrite.so
LoadModule {handler_module} {mods}/{handler_so}
{suexec}

TypesConfig /etc/mime.types
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" chatai
CustomLog "{accesslog}" chatai

<IfModule mpm_prefork_module>
    StartServers 2
    MaxRequestWorkers 150
</IfModule>
<IfModule mod_cgid.c>
    ScriptSock "{run}/cgid.sock"
</IfModule>
<IfModule mod_fcgid.c>
    FcgidIPCDir "{run}/fcgid"
    FcgidProcessTableFile "{run}/fcgid/shm"
    # The account's cap: at most this many chatai.fcgi processes.
    FcgidMaxProcessesPerClass {max_procs}
    FcgidMaxProcesses 64
    FcgidIOTimeout 75
    FcgidOutputBufferSize 0
</IfModule>

<Directory />
    AllowOverride None
    Require all denied
</Directory>
DocumentRoot "{docroot}"
<Directory "{docroot}">
    Options SymLinksIfOwnerMatch
    AllowOverride {allow_override}
    Require all granted
</Directory>
"""


class SharedHost(harness.Process):
    """Apache serving BASE/home/public_html through the shipped .htaccess.

    mode: "fcgid" (mod_fcgid, mpm_event), "cgi" (mod_cgi, mpm_prefork) or "cgid" (mod_cgid,
    mpm_event: what `a2enmod cgi` gives under Debian's default MPM).
    settings: more chatai.conf keys ({"rate_limit_dialogs": "2"}).
    suexec: an account (user name): chatai.fcgi runs as it through suexec, the account's
    files are its own (chatai.conf mode 600), and BASE lies under suexec's document root
    (/var/www on Debian: `/usr/lib/apache2/suexec -V`).
    """

    def __init__(self, pg, mode="fcgid", port=None, base=None, logdir=None, settings=None,
                 allow_override=ALLOW_OVERRIDE, max_procs=MAX_PROCS, bind="127.0.0.1", suexec=None):
        if mode not in ("fcgid", "cgi", "cgid"):
            raise ValueError("mode must be fcgid, cgi or cgid")
        self.pg = pg
        self.mode = mode
        self.port = port or harness.free_port()
        self.suexec = suexec
        if suexec and base is None:
            base = Path(tempfile.mkdtemp(prefix="chatai-suexec-", dir=SUEXEC_DOCROOT))
            self._own_base = True
        else:
            self._own_base = False
        self.base = Path(base) if base is not None else harness._world_dir("chatai-sharedhost-")
        self.keep = base is not None and not self._own_base
        if self.keep:
            for sub in ("home", "run"):
                shutil.rmtree(self.base / sub, ignore_errors=True)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        self.home = self.base / "home"
        self.docroot = self.home / "public_html"
        self.docroot.parent.mkdir()
        os.chmod(self.home, 0o755)
        web, staged = harness.stage_for_web_user(self.base / "stage")
        shutil.copytree(web, self.docroot)
        shutil.rmtree(self.base / "stage")
        api = self.docroot / "api"
        api.mkdir()
        os.chmod(api, 0o755)
        shutil.copyfile(harness.binary("chatai.fcgi"), api / "chatai.fcgi")
        os.chmod(api / "chatai.fcgi", 0o755)
        shutil.copyfile(HTACCESS, self.docroot / ".htaccess")
        os.chmod(self.docroot / ".htaccess", 0o644)
        self.conf = harness.settings_file(self.home / "chatai.conf", {
            "database_url": pg.url, "log_level": "info", **(settings or {})})
        suexec_lines = ""
        if suexec:
            # the account owns its files, as suexec demands; its settings only it may read
            acct = pwd.getpwnam(suexec)
            for root, dirs, files in os.walk(self.home):
                os.chown(root, acct.pw_uid, acct.pw_gid)
                for f in files:
                    os.chown(os.path.join(root, f), acct.pw_uid, acct.pw_gid)
            os.chmod(self.conf, 0o600)
            group = grp.getgrgid(acct.pw_gid).gr_name
            suexec_lines = (f"LoadModule suexec_module {{mods}}/mod_suexec.so\n"
                            f"SuexecUserGroup {suexec} {group}")
        run = self.base / "run"
        run.mkdir()
        (run / "fcgid").mkdir()
        pw = pwd.getpwnam(harness.WEB_USER)
        os.chown(run / "fcgid", pw.pw_uid, pw.pw_gid)
        self.logdir = Path(logdir or pg.tmpdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.error_log = self.logdir / f"sharedhost-{mode}-{self.port}-error.log"
        values = {
            "bind": bind, "port": self.port, "run": run, "errorlog": self.error_log,
            "accesslog": self.logdir / f"sharedhost-{mode}-{self.port}-access.log",
            "user": harness.WEB_USER, "mods": "/usr/lib/apache2/modules",
            "mpm": "mpm_prefork" if mode == "cgi" else "mpm_event",
            "handler_module": f"{mode}_module",
            "handler_so": f"mod_{mode}.so",
            "max_procs": max_procs, "docroot": self.docroot, "allow_override": allow_override,
        }
        values["suexec"] = suexec_lines.replace("{mods}", values["mods"])
        self.server_conf = self.base / "apache2.conf"
        self.server_conf.write_text(CONF.format(**values))
        # No CHATAI_* in Apache's environment: the program must find its settings alone.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAI_")}
        super().__init__(["/usr/sbin/apache2", "-f", self.server_conf, "-DFOREGROUND"], env=env,
                         name=f"apache2-{mode}", log_path=self.logdir / f"sharedhost-{mode}-{self.port}.log")

    @property
    def program(self):
        return self.docroot / "api" / "chatai.fcgi"

    def start(self):
        super().start()
        self.wait_port(self.port)
        return self

    def stop(self, timeout=10.0):
        rc = super().stop(timeout)
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)
        return rc

    def log(self):
        parts = [super().log()]
        if self.error_log.exists():
            parts.append(self.error_log.read_text(errors="replace"))
        return "\n".join(parts)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


def processes_of(exe):
    """Live pids whose executable is exe (by /proc/PID/exe, never by name)."""
    exe = os.path.realpath(exe)
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.readlink(d / "exe") in (exe, exe + " (deleted)"):
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    out.append(int(d.name))
        except OSError:
            continue
    return out
