# SPDX-License-Identifier: MIT
"""common/settings.def is the one list of settings keys: the README and docs/internals.md
tables are scripts/settings-doc's output, chatai.conf(5) and chatai.conf.example describe
every key (with its default) and no other, chatai-ctl knows exactly these keys, and
chatai-ctl check fails on exactly the values the daemons refuse (issue 13, item 4)."""
import importlib.machinery
import importlib.util
import re
import subprocess

import harness

SCRIPT = harness.REPO / "scripts" / "settings-doc"


def settings_doc():
    loader = importlib.machinery.SourceFileLoader("settings_doc", str(SCRIPT))
    spec = importlib.util.spec_from_loader("settings_doc", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


SD = settings_doc()
TABLE = SD.load()
KEYS = [s["key"] for s in TABLE]


def test_the_table_parses_into_every_key_once():
    assert len(KEYS) == len(set(KEYS)) and len(KEYS) >= 49, KEYS
    for s in TABLE:
        assert s["kind"] in ("TEXT", "INT", "ENUM", "PGURL", "REDISURL", "HTTPURL", "SMTPURL", "LISTEN",
                             "FCGI", "ADDRS", "EMAIL", "EMAILS"), s
        assert s["policy"] in ("REFUSE", "FALLBACK", "MAIL_OFF") and s["users"] and s["doc"] and "|" not in s["doc"], s
        if s["kind"] == "INT" and s["default"] is not None:
            hi = 2**31 - 1 if s["max"] == "INT32_MAX" else int(s["max"])
            assert int(s["min"]) <= int(s["default"]) <= hi, s
        if s["kind"] == "ENUM":
            assert s["default"] in s["choices"].split("|"), s
    for k in ("smtp_url", "mail_from", "public_url", "mail_reply_delay", "mail_alert_delay", "mail_alert_to"):
        assert k in KEYS, k


def test_doc_tables_are_the_generators_output():
    cp = subprocess.run([str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, "run scripts/settings-doc:\n" + cp.stdout + cp.stderr
    readme = (harness.REPO / "README.md").read_text()
    assert all(f"| `{k}` |" in readme for k in KEYS)


def test_the_generator_notices_a_stale_table(tmp_path):
    """--check must fail on a hand edit (else the test above proves nothing)."""
    for name, table in SD.TARGETS:
        text = (harness.REPO / name).read_text()
        edited = text.replace("| `token_ttl` | 604800 |", "| `token_ttl` | 3600 |")
        assert edited != text, name
        assert SD.rewrite(edited, table(TABLE), name) == text


def man_entries():
    """{key: the text of its .TP entry} from man/chatai.conf.5.in."""
    src = (harness.REPO / "man" / "chatai.conf.5.in").read_text()
    out = {}
    for m in re.finditer(r"^\.TP\n(\.BR? [^\n]*)\n(.*?)(?=^\.TP|^\.SH)", src, re.M | re.S):
        for key in re.findall(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b", m.group(1)):
            out[key] = m.group(2)
    return out


def test_man_page_describes_every_key_and_its_default():
    entries = man_entries()
    missing = [k for k in KEYS if k not in entries]
    assert not missing, f"keys without an entry in chatai.conf(5): {missing}"
    unknown = sorted(set(entries) - set(KEYS))
    assert not unknown, f"chatai.conf(5) describes keys no program knows: {unknown}"
    for s in TABLE:
        if s["kind"] in ("INT", "ENUM") and s["default"] is not None:
            text = entries[s["key"]].replace("\\", "")
            assert re.search(rf"(?<![\w.]){re.escape(s['default'])}(?![\w.])", text), (s["key"], s["default"], text)


def test_example_names_every_key_with_its_default():
    text = (harness.REPO / "chatai.conf.example").read_text()
    lines = re.findall(r"^(#?)([a-z_]+) = (\S*)", text, re.M)
    named = [k for _, k, _ in lines]
    assert sorted(set(named)) == sorted(KEYS), (set(KEYS) - set(named), set(named) - set(KEYS))
    by_key = {s["key"]: s for s in TABLE}
    for commented, k, value in lines:
        s = by_key[k]
        if commented and s["default"] is not None:
            assert value == s["default"], f"chatai.conf.example: #{k} = {value}, but the default is {s['default']}"


def test_chatai_ctl_knows_exactly_the_table():
    cp = subprocess.run([str(harness.binary("chatai-ctl")), "check", "--list-keys"], capture_output=True,
                        text=True, env=harness.base_env(), timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.split() == KEYS


def ctl_check(env):
    e = harness.base_env({"CHATAI_DATABASE_URL": "postgresql://chatai@127.0.0.1:1/chatai?connect_timeout=1",
                          **env})
    return subprocess.run([str(harness.binary("chatai-ctl")), "check", "--web-dir", "/nonexistent"],
                          capture_output=True, text=True, env=e, timeout=60)


def test_check_refuses_what_chatai_ai_refuses():
    """By construction: for every integer key chatai-ai reads, a value just outside the
    table's range stops chatai-ai and fails `chatai-ctl check` naming the key, and the
    bounds themselves are accepted by both (chatai-ai stops later, at the database)."""
    ai = harness.binary("chatai-ai")
    nowhere = "postgresql://chatai@127.0.0.1:1/chatai?connect_timeout=1"
    read = "".join(f.read_text() for f in (harness.REPO / "ai").glob("*.c"))
    keys = [s for s in TABLE if s["kind"] == "INT" and s["policy"] == "REFUSE" and f"SET_{s['key']}" in read]
    assert {"ai_timeout", "ai_lease", "ai_sweep_interval"} <= {s["key"] for s in keys}
    for s in keys:
        env_key = "CHATAI_" + s["key"].upper()
        for bad in (int(s["min"]) - 1, int(s["max"]) + 1):
            cp = subprocess.run([str(ai), "--once"], env=harness.base_env({"CHATAI_DATABASE_URL": nowhere,
                                                                          env_key: str(bad)}),
                                capture_output=True, text=True, timeout=30)
            assert cp.returncode == 1 and f"setting {s['key']} = {bad} is out of range" in cp.stderr, (s, cp.stderr)
            cp = ctl_check({env_key: str(bad)})
            assert cp.returncode == 1, cp.stdout
            assert f'FAIL settings: {s["key"]} = "{bad}": expected an integer' in cp.stdout, cp.stdout
            assert "chatai-ai refuses to start" in cp.stdout
        for good in (s["min"], s["max"]):
            cp = subprocess.run([str(ai), "--once"], env=harness.base_env({"CHATAI_DATABASE_URL": nowhere,
                                                                          env_key: good}),
                                capture_output=True, text=True, timeout=30)
            assert "out of range" not in cp.stderr and "database unavailable" in cp.stderr, (s, cp.stderr)
            assert f"{s['key']} =" not in ctl_check({env_key: good}).stdout


def test_check_says_what_the_programs_do_with_a_corrected_value():
    cp = ctl_check({"CHATAI_AUTH_CACHE_TTL": "600", "CHATAI_FCGI_THREADS": "many",
                    "CHATAI_SMTP_URL": "mail.example", "CHATAI_MAIL_ALERT_TO": "a@b.example, nobody"})
    assert cp.returncode == 1
    for said in ('auth_cache_ttl = "600": expected an integer from 0 to 300 (chatai.fcgi uses 300 instead)',
                 'fcgi_threads = "many": expected an integer from 1 to 4096 (chatai.fcgi uses the default, 32)',
                 'smtp_url = "...": expected smtp://host[:port], smtps://host[:port] or sendmail:',
                 "'nobody': not an email address", "(no mail is sent)",
                 "smtp_url needs mail_from and public_url (no mail is sent)"):
        assert said in cp.stdout, (said, cp.stdout)
    mail = {"CHATAI_MAIL_FROM": "chat@shop.example", "CHATAI_PUBLIC_URL": "https://shop.example/help"}
    for ok in ("sendmail:", "smtps://u:p@mail.example:465", "smtp://mail.example"):
        out = ctl_check({"CHATAI_SMTP_URL": ok, **mail}).stdout
        assert "smtp_url" not in out and "mail_from" not in out and "public_url" not in out, (ok, out)
    out = ctl_check({"CHATAI_SMTP_URL": "sendmail:", **mail, "CHATAI_PUBLIC_URL": "https://shop.example/#x",
                     "CHATAI_MAIL_REPLY_DELAY": "2592001"}).stdout
    assert 'public_url = "https://shop.example/#x": a URL here has no spaces, quotes, <, > or #' in out
    assert 'mail_reply_delay = "2592001": expected an integer from 0 to 2592000 (no mail is sent)' in out


def test_check_hides_and_guards_an_smtp_password(tmp_path):
    conf = tmp_path / "chatai.conf"
    conf.write_text("smtp_url = smtps://chat:s3cret@mail.example:465\nmail_from = chat@shop.example\n"
                    "public_url = https://shop.example\n")
    conf.chmod(0o644)
    e = harness.base_env({"CHATAI_DATABASE_URL": "postgresql://chatai@127.0.0.1:1/chatai?connect_timeout=1"})
    cp = subprocess.run([str(harness.binary("chatai-ctl")), "--config", str(conf), "check"],
                        capture_output=True, text=True, env=e, timeout=60)
    assert "holds a password and every user may read it" in cp.stdout, cp.stdout
    assert "s3cret" not in cp.stdout + cp.stderr
    conf.chmod(0o640)
    cp = subprocess.run([str(harness.binary("chatai-ctl")), "--config", str(conf), "check"],
                        capture_output=True, text=True, env=e, timeout=60)
    assert cp.stdout.startswith(f"OK   settings: {conf}"), cp.stdout
