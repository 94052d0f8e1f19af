"""0013: a device whose ``max_seq`` lags its stored events (a crash between the insert and the
old separate chain advance) is repaired; the others are left as they are; SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

_DEVICE = (
    "INSERT INTO devices (id, kind, public_key, status, registered_at, online, session, "
    "last_seq, chain_head, max_seq) VALUES (:id, 'handheld', :pk, 'active', "
    "'2026-01-05 01:00:00', false, 0, 0, :head, :max_seq)"
)
_EVENT = (
    "INSERT INTO events (device_id, seq, kind, ts, captured_at, received_at, historical, body, "
    "blobs, digest, prev, chain, raw) VALUES (:dev, :seq, 'track', 1, '2026-01-05 01:00:00', "
    "'2026-01-05 01:00:00', false, '{}', '[]', :d, :d, 'pending', :raw)"
)


def check(url: str) -> None:
    upgrade(url, "0012_dashboard_indexes")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for dev, max_seq in (("lagging", 1), ("right", 3), ("ahead", 9), ("empty", 0)):
                conn.execute(
                    text(_DEVICE),
                    {"id": dev, "pk": "ab" * 32, "head": "0" * 64, "max_seq": max_seq},
                )
            for dev, seqs in (("lagging", (1, 2, 5)), ("right", (1, 3)), ("ahead", (2,))):
                for seq in seqs:
                    conn.execute(
                        text(_EVENT), {"dev": dev, "seq": seq, "d": f"{seq:064x}", "raw": b"x"}
                    )
        upgrade(url)
        with engine.connect() as conn:
            got = {d: m for d, m in conn.execute(text("SELECT id, max_seq FROM devices"))}
        assert got == {"lagging": 5, "right": 3, "ahead": 9, "empty": 0}
        downgrade(url, "0012_dashboard_indexes")
        upgrade(url)
    finally:
        engine.dispose()


def test_0013_on_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'm.db'}")


def test_0013_on_postgres(postgres_url: str) -> None:  # noqa: F811
    check(postgres_url)
