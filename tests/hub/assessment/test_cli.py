"""`gridlink hub weekly-stats`: the weekly job by hand, and a finished week recomputed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlink.errors import describe
from hub.assessment.models import StatsWeek
from hub.assessment.periods import week_of
from hub.cli import app
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.seed import seed_demo
from hub.settings import Settings, get_settings


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    monkeypatch.delenv("GRIDLINK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert CliRunner().invoke(app, ["migrate", "--database-url", url]).exit_code == 0
    yield url
    get_settings.cache_clear()


def test_weekly_stats_by_hand(url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    engine = make_engine(url)
    with make_session_factory(engine)() as db_session:
        seed_demo(db_session=db_session, clock=FrozenClock(now - timedelta(days=9)))
        db_session.commit()
    settings = Settings(env="development", data_dir=tmp_path, database_url=url)
    last = week_of(now - timedelta(days=7), settings)
    runner = CliRunner()
    first = runner.invoke(app, ["weekly-stats", "--database-url", url, "--week", last.label])
    assert first.exit_code == 0, first.output
    assert f"weekly statistics stored: {last.label}" in first.output
    again = runner.invoke(app, ["weekly-stats", "--database-url", url, "--week", last.label])
    assert again.exit_code == 0
    with make_session_factory(engine)() as db_session:
        stored = db_session.get(StatsWeek, last.label)
        assert stored is not None and stored.computed_by == "system:cli"

    running = week_of(now, settings).label
    refused = runner.invoke(app, ["weekly-stats", "--database-url", url, "--week", running])
    assert refused.exit_code == 1
    assert describe(refused.exception) == f"week {running} has not ended yet"  # one line
    bad = runner.invoke(app, ["weekly-stats", "--database-url", url, "--week", "2026-W60"])
    assert bad.exit_code == 1
    assert describe(bad.exception) == "week must be an ISO week like 2026-W02, not '2026-W60'"
    engine.dispose()
