"""Console browser fixtures: the hub served over HTTP by uvicorn, and the Debian Chromium
driven by Playwright (never a downloaded browser) with every outside host unreachable.

Screenshots go to ``$GRIDLINK_TEST_ARTIFACTS/console/`` (default ``var/test-artifacts/`` in
the repository; docs/hub.md, "Console").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.app import create_app
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings
from tests.support.browser import ARTIFACTS, CHROMIUM, OFFLINE, REPO  # noqa: F401 - shared
from tests.support.served import serve


@pytest.fixture
def served_hub(settings: Settings, clock: FrozenClock, demo: DemoData) -> Iterator[str]:
    with serve(create_app(settings=settings, clock=clock)) as url:
        yield url


@pytest.fixture
def artifacts() -> Path:
    path = ARTIFACTS / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
