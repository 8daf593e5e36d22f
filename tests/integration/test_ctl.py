# SPDX-License-Identifier: MIT
"""chatai-ctl against a real PostgreSQL: migrations, operators, assistants, knowledge, check."""

import json
import subprocess
import threading

import pytest

import harness


def ctl(pg, *args, stdin=None, env=None):
    return harness.run_ctl(pg.url, *args, stdin=stdin, check=False, env=env)


# ---- migrate ---------------------------------------------------------------------------


def test_migrate_is_idempotent(pg):
    before = pg.sql("SELECT version, name FROM schema_migrations ORDER BY version")
    assert before and before[0] == (1, "001_tables.sql")
    cp = ctl(pg, "migrate")
    assert cp.returncode == 0, cp.stderr
    assert "applied" not in cp.stdout.replace("applied now", "")
    assert pg.sql("SELECT version, name FROM schema_migrations ORDER BY version") == before


@pytest.fixture
def blank_pg(tmp_path):
    p = harness.Postgres(tmp_path / "pg", migrate=False).start()
    yield p
    p.destroy()


def test_migrate_order_transactions_and_failure(blank_pg, tmp_path):
    d = tmp_path / "sql"
    d.mkdir()
    (d / "2_second.sql").write_text("INSERT INTO t VALUES (2);")
    (d / "10_tenth.sql").write_text("INSERT INTO t VALUES (10);")
    (d / "001_first.sql").write_text("CREATE TABLE t (v int PRIMARY KEY); INSERT INTO t VALUES (1);")
    (d / "README.txt").write_text("not a migration")
    (d / "11_broken.sql").write_text("INSERT INTO t VALUES (11); SELECT no_such_function();")
    cp = ctl(blank_pg, "migrate", "--sql-dir", d)
    assert cp.returncode == 1
    assert "11_broken.sql" in cp.stderr and "no_such_function" in cp.stderr
    # numeric (not lexical) order; the broken file left nothing behind
    assert cp.stdout.splitlines()[:3] == ["applied 001_first.sql", "applied 2_second.sql",
                                          "applied 10_tenth.sql"]
    assert blank_pg.sql("SELECT v FROM t ORDER BY v") == [(1,), (2,), (10,)]
    assert [r[0] for r in blank_pg.sql("SELECT version FROM schema_migrations ORDER BY 1")] == [1, 2, 10]
    # fixed, the rerun applies only the missing one
    (d / "11_broken.sql").write_text("INSERT INTO t VALUES (11);")
    cp = ctl(blank_pg, "migrate", "--sql-dir", d)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines()[0] == "applied 11_broken.sql"
    assert blank_pg.sql("SELECT count(*) FROM t") == [(4,)]


def test_migrate_duplicate_versions_refused(blank_pg, tmp_path):
    d = tmp_path / "sql"
    d.mkdir()
    (d / "001_a.sql").write_text("SELECT 1;")
    (d / "1_b.sql").write_text("SELECT 1;")
    cp = ctl(blank_pg, "migrate", "--sql-dir", d)
    assert cp.returncode == 1 and "same version" in cp.stderr


def test_migrate_concurrent_runs_are_safe(blank_pg):
    results = []

    def run():
        results.append(ctl(blank_pg, "migrate"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    applied = [line for r in results for line in r.stdout.splitlines() if line.startswith("applied ")]
    files = sorted(p.name for p in harness.SQL_DIR.glob("[0-9]*_*.sql"))
    assert sorted(applied) == sorted(f"applied {f}" for f in files)  # each exactly once
    assert blank_pg.sql("SELECT count(*) FROM schema_migrations") == [(len(files),)]


def test_every_migration_records_itself():
    """Each sql/NNN_name.sql inserts its own schema_migrations row (idempotently) as its
    last statement, so that a file applied by hand leaves what `chatai-ctl migrate` expects
    (docs/deploy.md, shared hosting); the first file creates the table. A new migration must
    end the same way."""
    files = sorted(harness.SQL_DIR.glob("[0-9]*_*.sql"), key=lambda p: int(p.name.split("_")[0]))
    assert "CREATE TABLE IF NOT EXISTS schema_migrations" in files[0].read_text(), files[0].name
    for f in files:
        version = int(f.name.split("_", 1)[0])
        last = f.read_text().rstrip().splitlines()[-1]
        assert last == (f"INSERT INTO schema_migrations (version, name) VALUES ({version}, '{f.name}') "
                        "ON CONFLICT (version) DO NOTHING;"), f.name


def test_migrations_applied_by_hand_then_migrate(blank_pg):
    """The shared-host way: every file through psql in order, then chatai-ctl finds nothing
    to do and check says up to date (it used to fail: relation "operators" already exists)."""
    files = sorted(harness.SQL_DIR.glob("[0-9]*_*.sql"), key=lambda p: int(p.name.split("_")[0]))
    for f in files:
        cp = subprocess.run(["psql", blank_pg.url, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(f)],
                            capture_output=True, text=True)
        assert cp.returncode == 0, cp.stderr
    assert [r[1] for r in blank_pg.sql("SELECT version, name FROM schema_migrations ORDER BY 1")] == \
        [f.name for f in files]
    cp = ctl(blank_pg, "migrate")
    assert cp.returncode == 0, cp.stderr
    assert "(0 migration(s) applied now)" in cp.stdout
    cp = ctl(blank_pg, "check")
    assert cp.returncode == 0 and "up to date" in cp.stdout, cp.stdout


def test_migrate_env_sql_dir_and_missing_dir(blank_pg, tmp_path):
    cp = ctl(blank_pg, "migrate", env={"CHATAI_SQL_DIR": tmp_path / "nope"})
    assert cp.returncode == 1 and "nope" in cp.stderr


def test_database_unreachable_is_a_clear_error():
    cp = harness.run_ctl(f"postgresql://chatai@127.0.0.1:{harness.free_port()}/chatai?connect_timeout=2",
                         "migrate", check=False)
    assert cp.returncode == 1
    assert "cannot connect to the database" in cp.stderr


# ---- operator add ----------------------------------------------------------------------


def test_operator_add_hashes_password(pg):
    oid = harness.make_operator(pg, "Ann@Example.com", "s3cret-pass", "Ann O'Neil", "admin")
    row = pg.sql("SELECT email, name, role, password_hash FROM operators WHERE id = %s", oid)[0]
    assert row[:3] == ("Ann@Example.com", "Ann O'Neil", "admin")
    assert row[3].startswith("$y$") and "s3cret-pass" not in row[3]
    # same email, other case: refused by the unique index on lower(email)
    cp = ctl(pg, "operator", "add", "ann@example.com", "Other", stdin="pw123456\n")
    assert cp.returncode == 1 and "already exists" in cp.stderr


@pytest.mark.parametrize("args,stdin,code,msg", [
    (["operator", "add", "not-an-email", "X"], "password1\n", 1, "not a valid email"),
    (["operator", "add", "x@y.example", "X", "--role", "root"], "password1\n", 2, "--role"),
    (["operator", "add", "x@y.example", "X"], "", 1, "no password"),
    (["operator", "add", "x@y.example", "X"], "\n", 1, "must not be empty"),
    (["operator", "add", "x@y.example", "   "], "password1\n", 1, "name"),
    (["operator", "add", "x@y.example"], "password1\n", 2, "usage"),
    (["operator", "delete", "x@y.example"], "", 2, "usage"),
])
def test_operator_add_bad_input(pg, args, stdin, code, msg):
    cp = ctl(pg, *args, stdin=stdin)
    assert cp.returncode == code, cp.stderr
    assert msg in cp.stderr
    assert pg.sql("SELECT count(*) FROM operators WHERE email = 'x@y.example'") == [(0,)]


def test_operator_sql_metacharacters_are_data(pg):
    email = "o'; DROP TABLE operators; --@x.example"
    cp = ctl(pg, "operator", "add", "robert@x.example", "Robert'); DROP TABLE operators;--", stdin="password1\n")
    assert cp.returncode == 0, cp.stderr
    assert pg.sql("SELECT name FROM operators WHERE email = 'robert@x.example'") == \
        [("Robert'); DROP TABLE operators;--",)]
    assert ctl(pg, "operator", "add", email, "X", stdin="password1\n").returncode == 1  # space in email


# ---- assistant add ---------------------------------------------------------------------


def test_assistant_add(pg):
    aid = harness.make_assistant(pg, "Shop bot", greeting="  Hi there!  ",
                                 allowed_origins=("https://shop.example", "http://localhost:8080"))
    row = pg.sql("SELECT name, greeting, allowed_origins FROM assistants WHERE id = %s", aid)[0]
    assert row == ("Shop bot", "Hi there!", ["https://shop.example", "http://localhost:8080"])


@pytest.mark.parametrize("args,msg", [
    (["--origin", "shop.example"], "not an origin"),
    (["--origin", "https://shop.example/path"], "not an origin"),
    (["--greeting", "x" * 4001], "greeting"),
    (["--greeting", "\t \n"], "greeting"),
])
def test_assistant_add_bad_input(pg, args, msg):
    n = pg.sql("SELECT count(*) FROM assistants")
    cp = ctl(pg, "assistant", "add", "Bot", *args)
    assert cp.returncode == 1 and msg in cp.stderr
    assert pg.sql("SELECT count(*) FROM assistants") == n


# ---- knowledge import ------------------------------------------------------------------


def kb_import(pg, tmp_path, bot, content, name="kb.csv"):
    """A new assistant called bot, and `chatai-ctl knowledge import` for it of a file called
    name holding content (bytes or text): (the assistant's id, the finished process, the file)."""
    aid = harness.make_assistant(pg, bot)
    f = tmp_path / name
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    return aid, ctl(pg, "knowledge", "import", aid, f), f


def test_knowledge_import_csv_rfc4180(pg, tmp_path):
    aid, cp, _ = kb_import(pg, tmp_path, "KB bot", b'\xef\xbb\xbfquestion,answer\r\n'
                           b'How long is delivery?,"2-3 days, sometimes 4."\r\n'
                           b'"Do you ship ""abroad""?","Yes.\r\nTo the EU and the UK."\r\n'
                           b'\r\n'
                           b'Caf\xc3\xa9 open?,Oui\r\n')
    assert cp.returncode == 0, cp.stderr
    assert "imported 3 entries" in cp.stdout
    rows = pg.sql("SELECT question, answer FROM knowledge WHERE assistant_id = %s ORDER BY id", aid)
    assert rows == [("How long is delivery?", "2-3 days, sometimes 4."),
                    ('Do you ship "abroad"?', "Yes.\r\nTo the EU and the UK."),
                    ("Café open?", "Oui")]
    # the full-text column is filled (the AI worker searches it)
    assert pg.sql("SELECT count(*) FROM knowledge WHERE assistant_id = %s AND tsv @@ to_tsquery('english', 'delivery')",
                  aid) == [(1,)]


def test_knowledge_import_csv_bad_rows_import_nothing(pg, tmp_path):
    aid, cp, _ = kb_import(pg, tmp_path, "KB bot 2", b"question,answer\n"
                           b"ok,fine\n"
                           b"only one field\n"
                           b",empty question\n"
                           b"bad utf8 \xff,x\n"
                           b"three,fields,here\n"
                           b'"multi\nline",ok\n'
                           b"last, \n")
    assert cp.returncode == 1
    for said in ("line 3: expected 2 fields", "line 4: question",
                 "line 5: question: text must be valid UTF-8",
                 "line 6: expected 2 fields (question,answer), found 3",
                 "line 9: answer",  # the quoted newline on line 7 counts
                 "nothing imported"):
        assert said in cp.stderr, (said, cp.stderr)
    assert pg.sql("SELECT count(*) FROM knowledge WHERE assistant_id = %s", aid) == [(0,)]


@pytest.mark.parametrize("content,msg", [
    (b"q,a\nx,y\n", "line 1: the first line must be the header"),
    (b'question,answer\n"unterminated,x\n', "line 2: unterminated quoted field"),
    (b'question,answer\n"a"b,x\n', "line 2: unexpected character after a closing quote"),
    (b"", "empty"),
])
def test_knowledge_import_csv_structure_errors(pg, tmp_path, content, msg):
    _, cp, _ = kb_import(pg, tmp_path, "KB bot 3", content)
    assert cp.returncode == 1 and msg in cp.stderr


def test_knowledge_import_json(pg, tmp_path):
    # no telling extension: detected from the content
    aid, cp, _ = kb_import(pg, tmp_path, "KB bot json",
                           json.dumps([{"question": "Return policy?", "answer": "30 days.", "extra": 1},
                                       {"question": "Emoji 🙂?", "answer": "Sure 🙂"}], indent=2), "kb.data")
    assert cp.returncode == 0, cp.stderr
    assert pg.sql("SELECT question, answer FROM knowledge WHERE assistant_id = %s ORDER BY id", aid) == \
        [("Return policy?", "30 days."), ("Emoji 🙂?", "Sure 🙂")]


def test_knowledge_import_json_errors_with_lines(pg, tmp_path):
    aid, cp, f = kb_import(pg, tmp_path, "KB bot json 2",
                           '[\n  {"question": "ok", "answer": "ok"},\n  {"question": 5, "answer": "x"},\n'
                           '  "just a string",\n  {"question": "q"},\n  {"question": "a\\u0000b", "answer": "x"}\n]\n',
                           "kb.json")
    assert cp.returncode == 1
    assert "line 6: a \\u0000 escape" in cp.stderr
    f.write_text('[\n  {"question": "ok", "answer": "ok"},\n  {"question": 5, "answer": "x"},\n'
                 '  "just a string",\n  {"question": "q"}\n]\n')
    cp = ctl(pg, "knowledge", "import", aid, f)
    assert cp.returncode == 1
    assert "line 3: entry 2: question must be a string" in cp.stderr
    assert "line 4: entry 3: expected an object" in cp.stderr
    assert "line 5: answer is missing" in cp.stderr
    f.write_text('{"question": "q", "answer": "a"}')
    assert "JSON array" in ctl(pg, "knowledge", "import", aid, f).stderr
    f.write_text('[{"question": "q", "answer": "a"}')
    assert "not valid JSON" in ctl(pg, "knowledge", "import", aid, f).stderr
    assert pg.sql("SELECT count(*) FROM knowledge WHERE assistant_id = %s", aid) == [(0,)]


def test_knowledge_import_unknown_assistant_and_bad_id(pg, tmp_path):
    f = tmp_path / "kb.csv"
    f.write_text("question,answer\nq,a\n")
    cp = ctl(pg, "knowledge", "import", 999999, f)
    assert cp.returncode == 1 and "no assistant with id 999999" in cp.stderr
    cp = ctl(pg, "knowledge", "import", "1; DROP TABLE knowledge", f)
    assert cp.returncode == 2
    cp = ctl(pg, "knowledge", "import", 1, tmp_path / "missing.csv")
    assert cp.returncode == 1 and "missing.csv" in cp.stderr


# ---- check, help ------------------------------------------------------------------------


def test_check_ok_and_failures(pg, blank_pg, tmp_path):
    cp = ctl(pg, "check")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    lines = cp.stdout.splitlines()
    assert any(line.startswith("OK   database: PostgreSQL") for line in lines)
    assert any(line.startswith("OK   schema: version") and "up to date" in line for line in lines)

    cp = ctl(blank_pg, "check")
    assert cp.returncode == 1 and "FAIL schema: not initialised" in cp.stdout

    cp = ctl(pg, "check", env={"CHATAI_FCGI_THREADS": "many", "CHATAI_AI_PROVIDER": "magic"})
    assert cp.returncode == 1
    assert 'fcgi_threads = "many"' in cp.stdout and "ai_provider" in cp.stdout

    conf = tmp_path / "bad.conf"
    conf.write_text("database_url = x\nthis line is wrong\n")
    cp = ctl(pg, "--config", conf, "check")
    assert cp.returncode == 1 and "bad.conf:2" in cp.stdout

    cp = harness.run_ctl(f"postgresql://chatai@127.0.0.1:{harness.free_port()}/chatai?connect_timeout=2",
                         "check", check=False)
    assert cp.returncode == 1 and "FAIL database: cannot connect" in cp.stdout


# That chatai-ctl knows exactly the keys of common/settings.def, and that the docs follow
# it: tests/integration/test_settings_table.py.


def test_check_knows_every_key_the_programs_read():
    """Every key the C programs read (config_get*("key") and ai/'s setting_int("key")) is
    one chatai-ctl knows, so that `check` never calls a working key unknown."""
    import re
    read = set()
    for d in ("common", "fcgi", "notifier", "ai", "ctl"):
        for f in (harness.REPO / d).glob("*.c"):
            read |= set(re.findall(r'\b(?:config_get(?:_int|_bool)?|setting_int)\("([a-z0-9_.]+)"', f.read_text()))
    cp = subprocess.run([str(harness.binary("chatai-ctl")), "check", "--list-keys"], capture_output=True,
                        text=True, env=harness.base_env())
    known = set(cp.stdout.split())
    assert read and read <= known, f"read by the programs but unknown to chatai-ctl: {sorted(read - known)}"


def test_check_fails_on_what_would_break(pg, tmp_path):
    def check(text, mode=0o640, env=None):
        conf = tmp_path / "chatai.conf"
        conf.write_text(f"database_url = {pg.url}\n{text}")
        conf.chmod(mode)
        e = harness.base_env({"CHATAI_LOG_LEVEL": "info", **(env or {})})
        return subprocess.run([str(harness.binary("chatai-ctl")), "--config", str(conf), "check"],
                              env={k: str(v) for k, v in e.items()}, capture_output=True, text=True, timeout=60)

    cp = check("log_level = warn   # a trailing comment is a comment\n")
    assert cp.returncode == 0, cp.stdout
    assert "OK   web: " in cp.stdout
    # misspelt and unknown keys
    cp = check("log_levle = debug\n")
    assert cp.returncode == 1 and "unknown key 'log_levle' (did you mean log_level?)" in cp.stdout
    cp = check("frobnicate = 1\n")
    assert cp.returncode == 1 and "unknown key 'frobnicate'" in cp.stdout
    # values the programs would refuse
    for line, msg in [("notifier_listen = 127.0.0.1:99999", "port must be a number from 1 to 65535"),
                      ("notifier_listen = localhost:8081", "address must be numeric"),
                      ("fcgi_listen = 127.0.0.1:0", "port must be a number"),
                      ("fcgi_listen = /no/such/dir/chatai.sock", "directory does not exist"),
                      ("redis_url = http://x", "redis"),
                      ("ai_timeout = 601", "from 1 to 600"),
                      ("ai_base_url = api.openai.com", "http:// or https://"),
                      ("notifier_trusted_proxies = proxy.internal", "not a numeric address"),
                      ("log_target = file", "expected one of stderr syslog")]:
        cp = check(line + "\n")
        assert cp.returncode == 1 and msg in cp.stdout, (line, cp.stdout)
    # a password every user can read
    cp = check("", mode=0o644)
    if ":" in pg.url.split("@")[0].split("//")[-1]:
        assert cp.returncode == 1 and "every user may read it" in cp.stdout
    cp = check("ai_api_key = sk-secret\n", mode=0o644)
    assert cp.returncode == 1 and "every user may read it" in cp.stdout and "sk-secret" not in cp.stdout
    assert check("ai_api_key = sk-secret\n", mode=0o640).returncode == 0
    # the migrations and the web files must be there
    cp = check("", env={"CHATAI_SQL_DIR": tmp_path / "nope"})
    assert cp.returncode == 1 and "FAIL schema:" in cp.stdout and "nope" in cp.stdout
    cp = check("", env={"CHATAI_WEB_DIR": tmp_path / "noweb"})
    assert cp.returncode == 1 and "FAIL web:" in cp.stdout
    # the notifier, when notifier_listen is set
    port = harness.free_port()
    cp = check(f"notifier_listen = 127.0.0.1:{port}\n")
    assert cp.returncode == 1 and f"FAIL notifier: http://127.0.0.1:{port}/health" in cp.stdout


def test_check_asks_the_notifier_for_health(pg, tmp_path):
    import http.server
    import threading as th

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Health)
    t = th.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        cp = ctl(pg, "check", env={"CHATAI_NOTIFIER_LISTEN": f"0.0.0.0:{srv.server_port}"})
        assert cp.returncode == 0, cp.stdout
        assert f"OK   notifier: http://127.0.0.1:{srv.server_port}/health answers 200" in cp.stdout
    finally:
        srv.shutdown()
        srv.server_close()


def test_check_reports_pending_migrations(blank_pg, tmp_path):
    d = tmp_path / "sql"
    d.mkdir()
    (d / "001_a.sql").write_text("SELECT 1;")
    assert ctl(blank_pg, "migrate", "--sql-dir", d).returncode == 0
    (d / "002_b.sql").write_text("SELECT 1;")
    cp = ctl(blank_pg, "check", "--sql-dir", d)
    assert cp.returncode == 1 and "1 migration(s) pending from 002_b.sql" in cp.stdout


def test_help_and_usage_errors():
    exe = str(harness.binary("chatai-ctl"))
    cp = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert cp.returncode == 0 and "knowledge import" in cp.stdout
    for args in ([], ["frobnicate"], ["--nope", "check"], ["migrate", "--bogus"], ["assistant", "add"]):
        cp = subprocess.run([exe, *args], capture_output=True, text=True)
        assert cp.returncode == 2, args
        assert "chatai-ctl --help" in cp.stderr
