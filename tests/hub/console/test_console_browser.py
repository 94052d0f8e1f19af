"""The operator console in a real headless Chromium against the hub served over HTTP."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session

from hub.app import create_app
from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import report_event
from tests.support.components import require
from tests.support.net import free_port
from tests.support.waiting import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        require("chromium", "chromium not installed (make services)")


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
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


def _dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=8000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_console_lists_only_the_operators_cases(
    served_hub: str,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    tmp_path: Path,
) -> None:
    own = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=1, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    other_grid = next(g for g in demo.grids if g.startswith("330102002"))
    device_events.on_report(
        db_session=db_session,
        event=report_event(
            seq=2,
            at=clock.now(),
            grid=other_grid,
            device_id="hh-0002",
            lat_e6=31_000_000,
            text="other street",
        ),
        clock=clock,
        settings=settings,
    )
    db_session.commit()
    token = demo.tokens["street-330102001-operator"]
    dom = _dom(f"{served_hub}/console#token={token}", tmp_path / "profile")
    assert "street-330102001-operator" in dom  # signed in from the link
    assert own.grid_code in dom and "1 case(s)" in dom
    assert other_grid not in dom  # another street's case is not shown
    assert token not in dom  # the link's token left the address bar
