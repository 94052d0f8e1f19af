"""0011: the devices' heartbeat figures and ``device_presence`` come and go with the rows of
existing devices intact, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

_DEVICE = (
    "INSERT INTO devices (id, kind, public_key, status, registered_at, online, session, "
    "last_seq, chain_head, max_seq, announced_seq) VALUES ('hh-1', 'handheld', :key, 'active', "
    "'2026-01-05 01:00:00', true, 0, 3, :head, 3, 3)"
)
FIGURES = {"battery", "outbox", "storage_free", "heartbeat_at"}


def check(url: str) -> None:
    upgrade(url, "0009_case_queue_index")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(_DEVICE), {"key": "ab" * 32, "head": "0" * 64})
        upgrade(url, "0011_fleet_live")
        insp = inspect(engine)
        assert "device_presence" in insp.get_table_names()
        assert FIGURES <= {c["name"] for c in insp.get_columns("devices")}
        with engine.begin() as conn:
            row = conn.execute(text("SELECT battery, outbox, last_seq FROM devices")).one()
            assert tuple(row) == (None, None, 3)
            conn.execute(text("UPDATE devices SET battery = 80, outbox = 2"))
            conn.execute(
                text(
                    "INSERT INTO device_presence (device_id, kind, online, at) "
                    "VALUES ('hh-1', 'handheld', true, '2026-01-05 01:00:00')"
                )
            )
        downgrade(url, "0009_case_queue_index")
        insp = inspect(engine)
        assert "device_presence" not in insp.get_table_names()
        assert not FIGURES & {c["name"] for c in insp.get_columns("devices")}
        with engine.begin() as conn:
            assert tuple(conn.execute(text("SELECT id, last_seq FROM devices")).one()) == (
                "hh-1",
                3,
            )
        upgrade(url)
    finally:
        engine.dispose()


def test_0011_on_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'm.db'}")


def test_0011_on_postgres(postgres_url: str) -> None:  # noqa: F811
    check(postgres_url)
