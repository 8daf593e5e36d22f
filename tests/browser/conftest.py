# SPDX-License-Identifier: MIT
"""Browser tests: headless Chromium (Selenium + Debian's chromium-driver) against the real
stack of tests/integration/harness.py (PostgreSQL + lighttpd + chatai.fcgi + notifier, and the
AI worker where answers are needed).

Fixtures of tests/integration/conftest.py (pg, stack, admin, assistant, api, make_stack) are
re-exported here; the ones below add browsers and page helpers.
Screenshots go to tests/artifacts/ (gitignored).
"""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTEGRATION = REPO / "tests" / "integration"
ARTIFACTS = REPO / "tests" / "artifacts"
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

# The shared fixtures, loaded under another module name (both files are called conftest.py).
_spec = importlib.util.spec_from_file_location("chatai_integration_conftest", INTEGRATION / "conftest.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
pg = _shared.pg
stack = _shared.stack
admin = _shared.admin
assistant = _shared.assistant
api = _shared.api
make_stack = _shared.make_stack
pytest_runtest_makereport = _shared.pytest_runtest_makereport

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--disable-dev-shm-usage", "--mute-audio", "--disable-extensions"]


def _chromium():
    for p in (os.environ.get("CHATAI_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if p and Path(p).exists():
            return p
    raise harness.HarnessError("chromium is not installed (apt-get install chromium chromium-driver)")


def _chromedriver():
    for p in (os.environ.get("CHATAI_CHROMEDRIVER"), "/usr/bin/chromedriver"):
        if p and Path(p).exists():
            return p
    raise harness.HarnessError("chromedriver is not installed (apt-get install chromium-driver)")


@pytest.fixture
def browser():
    """browser(width=1280, height=860) -> a new headless Chromium (quit at teardown)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made = []

    def factory(width=1280, height=860):
        profile = tempfile.mkdtemp(prefix="chatai-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = _chromium()
        for a in CHROME_FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        drv = webdriver.Chrome(service=Service(_chromedriver()), options=opts)
        drv.set_page_load_timeout(30)
        drv.set_script_timeout(30)
        made.append((drv, profile))
        return drv

    yield factory
    from pages import uncaught_errors
    problems = []
    for drv, profile in made:
        try:
            problems += uncaught_errors(drv)
        except Exception:
            pass
        try:
            drv.quit()
        except Exception:
            pass
        shutil.rmtree(profile, ignore_errors=True)
    # Every test also checks that the pages threw nothing.
    assert problems == [], f"uncaught errors in the pages: {problems}"



@pytest.fixture
def blank_site(tmp_path):
    """blank_site() -> (folder, url): a customer site on another origin (its own static
    server) whose pages the test writes into folder."""
    procs = []

    def start():
        site = tmp_path / f"site{len(procs)}"
        site.mkdir(exist_ok=True)
        port = harness.free_port()
        p = harness.Process(["/usr/bin/python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            cwd=str(site), log_path=tmp_path / f"site{len(procs)}.log", name="site")
        p.start()
        p.wait_port(port)
        procs.append(p)
        # "localhost" and "127.0.0.1" are different origins to the browser
        return site, f"http://localhost:{port}"

    yield start
    for p in procs:
        p.stop()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class NoWebSocketWebServer(harness.WebServer):
    """lighttpd that proxies /sse/ to the notifier but not /ws/ (as behind an old proxy):
    a WebSocket handshake on /ws/ gets a plain 404."""

    def _lighttpd_conf(self, fcgi_bin):
        argv, conf = super()._lighttpd_conf(fcgi_bin)
        text = conf.read_text()
        assert '"^/(ws|sse)/"' in text, "the lighttpd template changed: update NoWebSocketWebServer"
        conf.write_text(text.replace('"^/(ws|sse)/"', '"^/sse/"'))
        return argv, conf


@pytest.fixture
def make_no_ws_stack(tmp_path):
    """A stack (pg + notifier + lighttpd without the /ws/ proxy), stopped at teardown."""
    made = []

    def factory():
        s = harness.Stack(tmp_path / f"nows{len(made)}", start=False)
        s.pg = harness.Postgres(s.tmpdir / "pg").start()
        made.append(s)
        _shared._stacks.append(s)
        s.notifier = harness.Notifier(s.pg).start()
        s.notifier_port = s.notifier.port
        s.web = NoWebSocketWebServer("lighttpd", s.pg, s.notifier.port).start()
        s.ai = None
        return s

    yield factory
    for s in made:
        s.stop()
        _shared._stacks.remove(s)
