"""The access migration and a list delta on PostgreSQL (the row-locked version counter, the
composite keys, the sensitive-mark upsert)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from hub.access import lists, people
from hub.access.schemas import VehiclePut
from hub.access.service import record_batch
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.media.models import SensitiveBlob
from hub.migrations.runner import downgrade, upgrade
from hub.seed import seed_demo
from tests.hub.access.conftest import COMMUNITY, add_gate, resident
from tests.hub.conftest import START
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the module's cluster fixture

pytestmark = pytest.mark.slow


def test_access_migration_and_a_delta_on_postgres(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        assert {"access_people", "access_log", "access_list_changes", "sensitive_blobs"} <= set(
            inspect(engine).get_table_names()
        )
        clock = FrozenClock(START)
        factory = make_session_factory(engine)
        with factory() as db_session:
            seed_demo(db_session=db_session, clock=clock)
            at = clock.now()
            for i in range(3):
                people.put_person(
                    db_session=db_session,
                    community=COMMUNITY,
                    person_id=f"p-{i}",
                    data=resident(cards=[f"CA{i:04d}"]),
                    at=at,
                )
            db_session.commit()
            people.put_vehicle(
                db_session=db_session,
                community=COMMUNITY,
                plate="浙A12345",
                data=VehiclePut(person="p-0"),
                at=at,
            )
            people.delete_person(db_session=db_session, community=COMMUNITY, person_id="p-2", at=at)
            gate = add_gate(db_session, "bar-01", "barrier", at=at)
            sha = "cd" * 32
            body = {"events": [{"ev": "granted", "ts": 1, "ms": 0, "plate": "浙A12345", "blob": 0}]}
            for _ in range(2):  # the second one is a redelivery
                record_batch(
                    db_session=db_session,
                    device=gate,
                    seq=1,
                    body=body,
                    blobs=[{"sha256": sha}],
                    historical=False,
                    at=at,
                )
            lists.note_list_version(db_session=db_session, device_id="bar-01", version=3, at=at)
            db_session.commit()
        with factory() as db_session:
            parts = lists.sync_parts(db_session=db_session, community=COMMUNITY, base=3)
            assert [(p["mode"], p["base"], p["version"]) for p in parts] == [("delta", 3, 5)]
            assert parts[0]["entries"] == [
                {"op": "del", "t": "person", "id": "p-2"},
                {
                    "op": "put",
                    "t": "vehicle",
                    "plate": "浙A12345",
                    "person": "p-0",
                    "from": 0,
                    "to": None,
                    "doors": ["*"],
                    "black": False,
                },
            ]
            assert db_session.get(SensitiveBlob, sha) is not None
    finally:
        engine.dispose()
    downgrade(postgres_url)
    engine = make_engine(postgres_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
