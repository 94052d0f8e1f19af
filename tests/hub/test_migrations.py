"""The revisions form one line that matches every model, and upgrade / downgrade cleanly."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from hub.db import make_engine
from hub.migrations.runner import alembic_config, downgrade, upgrade


def test_one_line_of_revisions_matching_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    config = alembic_config(url)
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1
    assert script.get_bases() == ["0001_initial"]
    upgrade(url)
    # Fails when a model changed without a new revision (`gridlink hub new-migration`).
    command.check(config)
    downgrade(url)
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


def test_0002_backfills_blob_references_and_keeps_rejection_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0001_initial")
    engine = make_engine(url)
    photo, other = "a1" * 32, "b2" * 32
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO areas VALUES ('330102', 'district', 'd', NULL)"))
        conn.execute(text("INSERT INTO areas VALUES ('330102001', 'street', 's', '330102')"))
        conn.execute(text("INSERT INTO areas VALUES ('330102001001', 'community', 'c', NULL)"))
        conn.execute(
            text(
                "INSERT INTO grids (code, name, community_code) "
                "VALUES ('33010200100101', 'g', '330102001001')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO devices (id, kind, public_key, status, grid_code, registered_at, "
                "online, session, last_seq, chain_head, max_seq) VALUES ('hh-1', 'handheld', "
                "'00', 'active', '33010200100101', '2026-01-05 01:00:00', 0, 0, 0, '0', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO events (device_id, seq, kind, ts, captured_at, received_at, "
                "historical, grid_code, body, blobs, digest, prev, chain, raw) VALUES ('hh-1', 1, "
                "'report', 0, '2026-01-05 01:00:00', '2026-01-05 01:00:00', 0, "
                "'33010200100101', '{}', :blobs, 'd', 'p', 'linked', x'00')"
            ),
            {"blobs": json.dumps([{"sha256": photo, "size": 1, "mime": "image/jpeg"}])},
        )
        conn.execute(
            text("INSERT INTO rejection_counters VALUES ('bad_signature', 7, NULL, 'hh-x', 'sig')")
        )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        refs = conn.execute(text("SELECT sha256, grid_code FROM blob_refs")).all()
        counters = conn.execute(
            text("SELECT reason, device_id, count FROM rejection_device_counters")
        ).all()
    assert refs == [(photo, "33010200100101")] and other not in {r[0] for r in refs}
    assert counters == [("bad_signature", "", 7)]
    engine.dispose()
    downgrade(url, "0001_initial")
    engine = make_engine(url)
    with engine.connect() as conn:
        old = conn.execute(text("SELECT reason, count FROM rejection_counters")).all()
    assert old == [("bad_signature", 7)]
    engine.dispose()
