"""The Debian Chromium driven by Playwright (never a downloaded browser), with every outside
host unreachable: one browser per test process, for the console tests (tests/hub/console)
and the end-to-end console test (tests/e2e). Two Playwright instances cannot share a process,
so the fixture is registered once, in tests/conftest.py.

Screenshots go to ``$GRIDLINK_TEST_ARTIFACTS/console/`` (default ``var/test-artifacts/`` in
the repository; docs/hub.md, "Console")."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import require

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GRIDLINK_TEST_ARTIFACTS", REPO / "var" / "test-artifacts"))
# No name resolves but loopback's: a request for anything outside fails in the browser's
# resolver, whatever the machine's network can reach.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if CHROMIUM is None:
        require("chromium", "chromium not installed (make services)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("chromium", "playwright not installed: pip install -e '.[test]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", OFFLINE],
        )
        yield browser
        browser.close()
