"""0006: the OTA tables and ``devices.hardware`` come and go with the rows of existing devices
intact, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

_DEVICE = (
    "INSERT INTO devices (id, kind, public_key, status, registered_at, online, session, "
    "last_seq, chain_head, max_seq, announced_seq) VALUES ('hh-1', 'handheld', :key, 'active', "
    "'2026-01-05 01:00:00', false, 0, 3, :head, 3, 3)"
)
TABLES = {"ota_bundles", "ota_bundle_files", "ota_rollouts", "ota_rollout_devices"}


def check(url: str) -> None:
    upgrade(url, "0005_revocation_watermark")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(_DEVICE), {"key": "ab" * 32, "head": "0" * 64})
        upgrade(url)
        insp = inspect(engine)
        assert TABLES <= set(insp.get_table_names())
        assert "hardware" in {c["name"] for c in insp.get_columns("devices")}
        with engine.begin() as conn:
            assert conn.execute(text("SELECT hardware, last_seq FROM devices")).one() == (None, 3)
            conn.execute(text("UPDATE devices SET hardware = 'sim-unix'"))
        downgrade(url, "0005_revocation_watermark")
        insp = inspect(engine)
        assert not TABLES & set(insp.get_table_names())
        assert "hardware" not in {c["name"] for c in insp.get_columns("devices")}
        with engine.begin() as conn:
            assert conn.execute(text("SELECT id, last_seq FROM devices")).one() == ("hh-1", 3)
        upgrade(url)
    finally:
        engine.dispose()


def test_0006_on_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'm.db'}")


def test_0006_on_postgres(postgres_url: str) -> None:  # noqa: F811
    check(postgres_url)
