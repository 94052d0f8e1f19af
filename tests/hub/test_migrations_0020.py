"""0020: sign-in sessions and worker checks are rebuilt for the sign events stored before it,
so the online time of past months is kept; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from hub.db import make_engine
from hub.migrations.runner import downgrade, upgrade
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

_DEVICE = (
    "INSERT INTO devices (id, kind, public_key, status, registered_at, online, session, "
    "last_seq, chain_head, max_seq, grid_code) VALUES ('hh-old', 'handheld', :pk, 'active', "
    "'2026-01-05 01:00:00', false, 0, 0, :head, 4, NULL)"
)
_EVENT = (
    "INSERT INTO events (device_id, seq, kind, ts, captured_at, received_at, historical, body, "
    "blobs, digest, prev, chain, raw) VALUES ('hh-old', :seq, :kind, :ts, '2026-01-05 01:00:00',"
    " '2026-01-05 01:00:00', false, :body, '[]', :d, :d, 'linked', :raw)"
)


def check(url: str) -> None:
    upgrade(url, "0019_grid_boundaries")
    engine = make_engine(url)
    t0 = 1_767_600_000
    stream = [
        (1, "signin", t0, {"worker": "w1", "grid": "33010200100101", "ok": True}),
        (2, "report", t0 + 60, {"worker": "w1", "category": "garbage", "text": "x"}),
        (3, "signout", t0 + 3600, {"worker": "w1", "grid": "33010200100101"}),  # old: no reason
        (4, "report", t0 + 3700, {"worker": "w1", "category": "garbage", "text": "y"}),
    ]
    try:
        with engine.begin() as conn:
            conn.execute(text(_DEVICE), {"pk": "ab" * 32, "head": "0" * 64})
            for seq, kind, ts, body in stream:
                conn.execute(text(_EVENT), {"seq": seq, "kind": kind, "ts": ts,
                                            "body": json.dumps(body), "d": f"{seq:064x}",
                                            "raw": b"x"})  # fmt: skip
        upgrade(url)
        with engine.connect() as conn:
            got = conn.execute(text(
                "SELECT worker_id, start_seq, end_seq, end_reason, ended_ts - started_ts "
                "FROM worker_sessions")).all()  # fmt: skip
            checks = dict(conn.execute(text("SELECT seq, status FROM worker_checks")).all())
        assert [tuple(r) for r in got] == [("w1", 1, 3, "worker", 3600)]
        assert checks == {2: "not_on_grid", 4: "not_signed_in"}  # w1 is no worker of the hub's
        downgrade(url, "0019_grid_boundaries")
        upgrade(url)
    finally:
        engine.dispose()


def test_0020_on_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'm.db'}")


def test_0020_on_postgres(postgres_url: str) -> None:  # noqa: F811
    check(postgres_url)
