"""0009: the queue's index ``ix_cases_queue`` comes and goes with the cases intact, on SQLite
and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

_CASE = (
    "INSERT INTO cases (source, status, text, level, media, historical, reported_at, "
    "created_at, updated_at, supervised, escalation_count, rework_count) VALUES ('report', "
    "'filed', '井盖', 'community', '[]', false, '2026-01-05 01:00:00', '2026-01-05 01:00:00', "
    "'2026-01-05 01:00:00', false, 0, 0)"
)


def _indexes(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {i["name"] for i in inspect(engine).get_indexes("cases")}
    finally:
        engine.dispose()


def check(url: str) -> None:
    upgrade(url, "0008_console_sessions")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(_CASE))
        assert "ix_cases_queue" not in _indexes(url)
        upgrade(url)
        assert "ix_cases_queue" in _indexes(url)
        downgrade(url, "0008_console_sessions")
        assert "ix_cases_queue" not in _indexes(url)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT status, text FROM cases")).one() == ("filed", "井盖")
        upgrade(url)
    finally:
        engine.dispose()


def test_0009_on_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'm.db'}")


def test_0009_on_postgres(postgres_url: str) -> None:  # noqa: F811
    check(postgres_url)
