"""0012: the dashboard's indexes come and go, with the cases and their timelines intact, on
SQLite and on PostgreSQL; the board's query of a month reads the covering index on SQLite."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

_AREAS = (
    "INSERT INTO areas (code, name, level, parent_code) VALUES ('330102001001', 'c', "
    "'community', NULL)",
    "INSERT INTO grids (code, name, community_code) VALUES ('33010200100101', 'g', '330102001001')",
)
_CASE = (
    "INSERT INTO cases (id, source, status, text, grid_code, level, media, historical, "
    "reported_at, created_at, updated_at, supervised, escalation_count, rework_count) VALUES "
    "(1, 'report', 'handling', 'x', '33010200100101', 'community', '[]', false, "
    "'2026-01-05 01:00:00', '2026-01-05 01:00:00', '2026-01-05 01:00:00', false, 0, 1)"
)
_STEP = (
    "INSERT INTO case_transitions (case_id, at, actor, action, to_status, evidence) VALUES "
    "(1, '2026-01-05 01:00:00', 'worker:w1', 'reject', 'handling', '{}')"
)
INDEXES = {("cases", "ix_cases_figures"), ("case_transitions", "ix_case_transitions_action_at")}


def _indexes(engine) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    insp = inspect(engine)
    return {(t, i["name"]) for t in ("cases", "case_transitions") for i in insp.get_indexes(t)}


def check(url: str) -> None:
    upgrade(url, "0011_fleet_live")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for sql in (*_AREAS, _CASE, _STEP):
                conn.execute(text(sql))
        upgrade(url)
        assert INDEXES <= _indexes(engine)
        if url.startswith("sqlite"):
            with engine.connect() as conn:
                plan = " ".join(
                    str(r[-1])
                    for r in conn.execute(
                        text(
                            "EXPLAIN QUERY PLAN SELECT substr(grid_code, 1, 9), status, "
                            "level, count(*), sum(rework_count) FROM cases WHERE reported_at "
                            ">= '2026-01-01' AND reported_at < '2026-02-01' GROUP BY 1, 2, 3"
                        )
                    )
                )
            assert "COVERING INDEX ix_cases_figures" in plan, plan
        downgrade(url, "0011_fleet_live")
        assert not INDEXES & _indexes(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, rework_count FROM cases")).one() == (1, 1)
            assert conn.execute(text("SELECT action FROM case_transitions")).scalar() == "reject"
        upgrade(url)
        assert INDEXES <= _indexes(engine)
    finally:
        engine.dispose()


def test_0012_on_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'm.db'}")


def test_0012_on_postgres(postgres_url: str) -> None:  # noqa: F811
    check(postgres_url)
