"""Onboarding tests run the real command (typer's CliRunner on ``hub.cli``) on a migrated
SQLite copy (``settings`` of tests/hub/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from hub.areas.models import Area, Grid, Unit, UnitResponsibility, Worker, WorkerGrid
from hub.auth.models import ApiToken
from hub.cases.models import Category
from hub.cli import app
from hub.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "docs" / "templates"
TABLES = (Area, Category, Grid, Unit, UnitResponsibility, Worker, WorkerGrid, ApiToken)


@pytest.fixture(autouse=True)
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    for name in ("GRIDLINK_DATABASE_URL", "GRIDLINK_ADMIN_TOKEN", "GRIDLINK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


Hub = Callable[..., Result]


def hub_command(url: str) -> Hub:
    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(app, [*map(str, args), "--database-url", url])

    return run


@pytest.fixture
def hub(settings: Settings) -> Hub:
    """``gridlink hub ARGS --database-url <the test's database>``."""
    return hub_command(settings.database_url)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in TABLES
        }


@pytest.fixture
def settings_url(settings: Settings) -> str:
    return settings.database_url
