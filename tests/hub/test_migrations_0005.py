"""0005: devices revoked under the old timestamp rule get the watermark of what the hub held;
the new columns go away again on downgrade with the rows intact."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade

_DEVICE = (
    "INSERT INTO devices (id, kind, public_key, status, registered_at, online, session, "
    "last_seq, chain_head, max_seq) VALUES (:id, 'handheld', :key, :status, "
    "'2026-01-05 01:00:00', 0, 0, :last, :head, :max)"
)


def test_0005_backfills_the_watermark_of_revoked_devices(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0004_gate_alarm_cases")
    engine = make_engine(url)
    with engine.begin() as conn:
        for dev, status, last, mx in (("hh-old", "revoked", 7, 9), ("hh-live", "active", 3, 3)):
            conn.execute(
                text(_DEVICE),
                {
                    "id": dev,
                    "key": "ab" * 32,
                    "status": status,
                    "last": last,
                    "head": "cd" * 32,
                    "max": mx,
                },
            )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, announced_seq, revoked_seq, revoked_head, broker_disabled_at, "
                "previous_public_key FROM devices ORDER BY id"
            )
        ).all()
    assert rows == [
        ("hh-live", 3, None, None, None, None),
        ("hh-old", 9, 9, "cd" * 32, None, None),
    ]
    engine.dispose()
    downgrade(url, "0004_gate_alarm_cases")
    engine = make_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("devices")}
    assert "revoked_seq" not in columns and "previous_key_until" not in columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == 2
    engine.dispose()
