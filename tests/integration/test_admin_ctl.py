# SPDX-License-Identifier: MIT
"""chatai-ctl operator list|disable|enable|passwd and knowledge import as an upsert or
--replace-all (issue 14), against a real PostgreSQL."""

import uuid

import harness


def ctl(pg, *args, stdin=None):
    return harness.run_ctl(pg.url, *args, stdin=stdin, check=False)


def email():
    return f"cli-{uuid.uuid4().hex[:8]}@test.example"


def test_operator_list(pg):
    e = email()
    oid = harness.make_operator(pg, e, "long-password-1", "Lister", "operator")
    cp = ctl(pg, "operator", "list")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "EMAIL", "NAME", "ROLE", "STATE"]
    row = [ln for ln in lines if e in ln][0].split()
    assert row[0] == str(oid) and row[3] == "operator" and row[4] == "active" and row[5] == "-"
    assert "$y$" not in cp.stdout
    assert ctl(pg, "operator", "list", "extra").returncode == 2


def test_disable_enable_revokes_sessions(pg):
    e = email()
    oid = harness.make_operator(pg, e, "long-password-1", "Dis", "operator")
    for _ in range(2):
        pg.sql("INSERT INTO sessions (operator_id, token_hash, expires_at) VALUES (%s, md5(random()::text),"
               " now() + interval '1 hour')", oid)
    cp = ctl(pg, "operator", "disable", e.upper())
    assert cp.returncode == 0, cp.stderr
    assert f"operator {oid} disabled (2 session(s) revoked)" in cp.stdout
    assert pg.sql("SELECT count(*) FROM sessions WHERE operator_id = %s AND revoked_at IS NULL", oid) == [(0,)]
    assert pg.sql("SELECT disabled_at IS NOT NULL FROM operators WHERE id = %s", oid) == [(True,)]
    assert f" disabled " in [ln for ln in ctl(pg, "operator", "list").stdout.splitlines() if e in ln][0]
    cp = ctl(pg, "operator", "enable", str(oid))
    assert cp.returncode == 0 and f"operator {oid} enabled" in cp.stdout
    assert pg.sql("SELECT disabled_at FROM operators WHERE id = %s", oid) == [(None,)]


def test_last_admin_cannot_be_disabled(pg):
    e = email()
    oid = harness.make_operator(pg, e, "long-password-1", "Boss", "admin")
    others = [r[0] for r in pg.sql("UPDATE operators SET disabled_at = now() WHERE role = 'admin'"
                                   " AND disabled_at IS NULL AND id <> %s RETURNING id", oid)]
    try:
        cp = ctl(pg, "operator", "disable", e)
        assert cp.returncode == 1 and "last active admin" in cp.stderr
        assert pg.sql("SELECT disabled_at FROM operators WHERE id = %s", oid) == [(None,)]
    finally:
        pg.sql("UPDATE operators SET disabled_at = NULL WHERE id = ANY(%s)", others)


def test_passwd(pg):
    e = email()
    oid = harness.make_operator(pg, e, "long-password-1", "Pw", "operator")
    old = pg.sql("SELECT password_hash FROM operators WHERE id = %s", oid)[0][0]
    cp = ctl(pg, "operator", "passwd", e, stdin="a-brand-new-password\n")
    assert cp.returncode == 0 and "password changed" in cp.stdout, cp.stderr
    new = pg.sql("SELECT password_hash FROM operators WHERE id = %s", oid)[0][0]
    assert new != old and new.startswith("$y$") and "a-brand-new-password" not in new
    cp = ctl(pg, "operator", "passwd", e, stdin="short\n")
    assert cp.returncode == 0 and "weak" in cp.stderr
    assert ctl(pg, "operator", "passwd", e, stdin="").returncode == 1
    assert ctl(pg, "operator", "passwd", e, stdin="\n").returncode == 1


def test_operator_bad_arguments(pg):
    assert ctl(pg, "operator", "disable").returncode == 2
    assert ctl(pg, "operator", "frobnicate", "x").returncode == 2
    cp = ctl(pg, "operator", "disable", "nobody@nowhere.example")
    assert cp.returncode == 1 and "no operator" in cp.stderr
    cp = ctl(pg, "operator", "disable", "999999999")
    assert cp.returncode == 1 and "no operator" in cp.stderr
    cp = ctl(pg, "operator", "enable", "x' OR '1'='1")
    assert cp.returncode == 1 and "no operator" in cp.stderr


def kb(pg, aid):
    return pg.sql("SELECT question, answer FROM knowledge WHERE assistant_id = %s ORDER BY id", aid)


def test_import_upserts(pg, tmp_path):
    aid = harness.make_assistant(pg, "Upsert bot")
    f = tmp_path / "kb.csv"
    f.write_text("question,answer\nOpening hours?,9 to 5\nShipping?,3 days\n")
    cp = ctl(pg, "knowledge", "import", aid, f)
    assert cp.returncode == 0 and "(2 new, 0 replaced)" in cp.stdout, cp.stdout + cp.stderr
    ids = [r[0] for r in pg.sql("SELECT id FROM knowledge WHERE assistant_id = %s ORDER BY id", aid)]
    f.write_text("question,answer\n  opening HOURS?  ,8 to 6\nReturns?,30 days\n")
    cp = ctl(pg, "knowledge", "import", aid, f)
    assert cp.returncode == 0 and "imported 2 entries" in cp.stdout and "(1 new, 1 replaced)" in cp.stdout
    assert kb(pg, aid) == [("opening HOURS?", "8 to 6"), ("Shipping?", "3 days"), ("Returns?", "30 days")]
    assert [r[0] for r in pg.sql("SELECT id FROM knowledge WHERE assistant_id = %s ORDER BY id", aid)][:2] == ids
    # the search finds the new answer
    assert pg.sql("SELECT answer FROM chatai_kb_search(%s, 'opening hours', 1)", aid) == [("8 to 6",)]


def test_import_replace_all(pg, tmp_path):
    aid = harness.make_assistant(pg, "Replace bot")
    f = tmp_path / "kb.json"
    f.write_text('[{"question": "A?", "answer": "a"}, {"question": "B?", "answer": "b"}]')
    assert ctl(pg, "knowledge", "import", aid, f).returncode == 0
    f.write_text('[{"question": "C?", "answer": "c"}]')
    cp = ctl(pg, "knowledge", "import", "--replace-all", aid, f)
    assert cp.returncode == 0 and "replacing all 2 before" in cp.stdout, cp.stderr
    assert kb(pg, aid) == [("C?", "c")]
    # a bad file replaces nothing
    f.write_text('[{"question": "D?", "answer": 5}]')
    assert ctl(pg, "knowledge", "import", aid, f, "--replace-all").returncode == 1
    assert kb(pg, aid) == [("C?", "c")]
    cp = ctl(pg, "knowledge", "import", "--replace-all", 999999999, f)
    assert cp.returncode == 1


def test_rest_and_cli_write_the_same_way(pg, tmp_path):
    """The CLI's assistant and operator writes go through the 008 functions: same JSON rules."""
    aid = harness.make_assistant(pg, "  Spaced name  ", greeting="Hi")
    assert pg.sql("SELECT name FROM assistants WHERE id = %s", aid) == [("Spaced name",)]
    oid = harness.make_operator(pg, email(), "long-password-1", "  Trim Me ", "operator")
    assert pg.sql("SELECT name FROM operators WHERE id = %s", oid) == [("Trim Me",)]
