"""Console browser fixtures: the hub served over HTTP by uvicorn, and the Debian Chromium
driven by Playwright (never a downloaded browser) with every outside host unreachable.

Screenshots go to ``$GRIDLINK_TEST_ARTIFACTS/console/`` (default ``var/test-artifacts/`` in
the repository; docs/hub.md, "Console").
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from hub.app import create_app
from hub.clock import FrozenClock
from hub.live.api import close_streams
from hub.seed import DemoData
from hub.settings import Settings
from tests.support.components import require
from tests.support.net import free_port
from tests.support.waiting import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("GRIDLINK_TEST_ARTIFACTS", REPO / "var" / "test-artifacts"))
# No name resolves but loopback's: a request for anything outside fails in the browser's
# resolver, whatever the machine's network can reach.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture
def served_hub(settings: Settings, clock: FrozenClock, demo: DemoData) -> Iterator[str]:
    port = free_port()
    app = create_app(settings=settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until("uvicorn to start", lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        close_streams(app)  # open live streams would keep uvicorn waiting
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


@pytest.fixture
def artifacts() -> Path:
    path = ARTIFACTS / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


class Outside:
    """The requests a page made to anything but the hub (each one aborted)."""

    def __init__(self) -> None:
        self.urls: list[str] = []


@pytest.fixture
def page(chromium, served_hub: str) -> Iterator[tuple[object, Outside]]:
    """A fresh browser context (its own cookies and storage), 1366x900, with every request
    to a host other than the hub aborted and recorded."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    outside = Outside()

    def route(route) -> None:
        if route.request.url.startswith(served_hub + "/"):
            route.continue_()
        else:
            outside.urls.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page, outside
    context.close()
