# SPDX-License-Identifier: MIT
"""Issue 13, "one home per rule": assistant names and greetings follow one rule
(common/text.h) whether they come through REST or chatai-ctl. Before, REST counted a name
in bytes and stored greetings untrimmed, chatai-ctl counted characters, refused control
characters and trimmed greetings.
"""

import pytest

import harness

pytestmark = pytest.mark.skipif(
    not (harness.have_binary("chatai.fcgi") and harness.have_binary("chatai-ctl")),
    reason="chatai.fcgi and chatai-ctl must be built")

ACCEPTED = [
    # (name, greeting) -> stored (name, greeting)
    (("  Shop bot  ", "  Hi there!  "), ("Shop bot", "Hi there!")),
    (("é" * 200, ""), ("é" * 200, "")),  # 200 characters, 400 bytes
    (("Ünïcödé", "ä" * 4000), ("Ünïcödé", "ä" * 4000)),
]
REFUSED = [
    ("é" * 201, "", "name"),
    ("Shop\tbot", "", "name"),
    ("Shop\x7fbot", "", "name"),
    (" \t ", "", "name"),
    ("Shop", " \t\n ", "greeting"),
    ("Shop", "x" * 4001, "greeting"),
]


def ctl_add(pg, name, greeting):
    args = ["assistant", "add", name] + (["--greeting", greeting] if greeting else [])
    return harness.run_ctl(pg.url, *args, check=False)


@pytest.mark.parametrize("given,stored", ACCEPTED)
def test_both_paths_store_the_same(stack, api, admin, given, stored):
    name, greeting = given
    r = api.op(admin["token"]).post("/api/assistants", json={"name": name, "greeting": greeting})
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["greeting"]) == stored
    cp = ctl_add(stack.pg, name, greeting)
    assert cp.returncode == 0, cp.stderr
    aid = int(cp.stdout.strip().splitlines()[-1])
    assert tuple(stack.pg.sql("SELECT name, greeting FROM assistants WHERE id = %s", aid)[0]) == stored


@pytest.mark.parametrize("name,greeting,field", REFUSED)
def test_both_paths_refuse_the_same(stack, api, admin, name, greeting, field):
    r = api.op(admin["token"]).post("/api/assistants", json={"name": name, "greeting": greeting})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "validation_failed" and r.json()["error"]["field"] == field
    cp = ctl_add(stack.pg, name, greeting)
    assert cp.returncode != 0 and f"{field}:" in cp.stderr, cp.stderr


def test_patch_follows_the_rule(api, admin):
    op = api.op(admin["token"])
    a = op.post("/api/assistants", json={"name": "Patched"}).json()
    r = op.patch(f"/api/assistants/{a['id']}", json={"greeting": "  Hello  "})
    assert r.status_code == 200 and r.json()["greeting"] == "Hello", r.text
    r = op.patch(f"/api/assistants/{a['id']}", json={"name": "a\nb"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "name", r.text
