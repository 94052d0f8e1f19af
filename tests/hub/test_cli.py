"""``gridlink hub migrate``, ``key`` and ``seed-demo`` against a fresh SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from hub.areas.models import Grid
from hub.cli import app
from hub.db import make_engine, make_session_factory
from hub.keys import load
from hub.settings import get_settings


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI reads its settings from the environment: point them at ``tmp_path``."""
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_migrate_then_seed_demo(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    key = load(tmp_path / "hub_key.pem")  # migrate creates the hub key
    assert key.public_key_hex in result.output
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"alembic_version", "cases", "case_transitions", "grids", "api_tokens"} <= tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    tokens = tmp_path / "tokens.json"
    result = runner.invoke(app, ["seed-demo", "--database-url", url, "--tokens-file", str(tokens)])
    assert result.exit_code == 0, result.output
    assert "district-operator" in result.output
    secrets = json.loads(tokens.read_text())
    assert all(value.startswith("glt_") for value in secrets.values())
    with make_session_factory(engine)() as db_session:
        assert len(db_session.scalars(select(Grid)).all()) == 8
    again = runner.invoke(app, ["seed-demo", "--database-url", url])
    assert again.exit_code == 1 and "already present" in again.output
    engine.dispose()


def test_key_creates_the_hub_key_once(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["key"])
    assert first.exit_code == 0, first.output
    key = load(tmp_path / "hub_key.pem")
    again = runner.invoke(app, ["key"])
    assert again.exit_code == 0 and key.public_key_hex in again.output
    assert load(tmp_path / "hub_key.pem") == key
