"""The same Alembic migrations and a workflow round trip on PostgreSQL.

Uses ``GRIDLINK_TEST_POSTGRES_URL`` when set; otherwise starts a throw-away cluster with the
local ``initdb`` / ``pg_ctl`` (tests/support/postgres.py). Without PostgreSQL the tests fail, unless
``GRIDLINK_TEST_ALLOW_SKIP`` names ``postgres`` (tests/support/components.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from hub.cases import actions
from hub.cases.flows import device_events
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import downgrade, upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.hub.builders import report_event
from tests.hub.conftest import START
from tests.support import postgres
from tests.support.components import require

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if url := os.environ.get("GRIDLINK_TEST_POSTGRES_URL"):
        yield url
        return
    try:
        with postgres.server() as url:
            yield url
    except postgres.Unavailable as exc:  # raised only while starting it
        require("postgres", str(exc))


def test_migrations_and_workflow_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        assert {"cases", "case_transitions", "grids", "devices", "events"} <= set(
            inspect(engine).get_table_names()
        )
        settings = Settings(env="development", data_dir=tmp_path, database_url=postgres_url)
        clock = FrozenClock(START)
        factory = make_session_factory(engine)
        with factory() as db_session:
            seed_demo(db_session=db_session, clock=clock)
            case = device_events.on_report(
                db_session=db_session,
                event=report_event(seq=1, at=START),
                clock=clock,
                settings=settings,
            )
            actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
            db_session.commit()
            clock.advance(days=3)
            assert run_supervision(
                db_session=db_session, clock=clock, settings=settings
            ).escalated == [case.id]
            db_session.commit()
        with factory() as db_session:
            again = db_session.scalars(select(Case)).one()
            assert again.level == "street" and again.reported_at == START
            assert [t.action for t in again.transitions][-1] == "escalate"
    finally:
        engine.dispose()
    downgrade(postgres_url)
    engine = make_engine(postgres_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_ingest_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """The ingest path's PostgreSQL-specific SQL: the bad-input stream, replays, and a blob."""
    import hashlib
    import os

    from hub.events.models import Event
    from hub.events.service import rejection_counts
    from hub.ingest.processor import Processor
    from hub.ingest.runner import use_openssl
    from hub.keys import load_or_create
    from hub.media.models import Blob
    from hub.media.store import FileBlobStore
    from hub.mqtt_messages import Inbound
    from tests.builders.devices import TestDevice
    from tests.hub.ingest.streams import bad_input_stream

    use_openssl()
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        settings = Settings(env="development", data_dir=tmp_path, database_url=postgres_url)
        clock = FrozenClock(START)
        factory = make_session_factory(engine)
        store = FileBlobStore(tmp_path / "media")
        processor = Processor(
            factory,
            load_or_create(tmp_path / "hub_key.pem"),
            store,
            clock=clock,
            settings=settings,
        )

        def device(device_id: str, kind: str = "handheld") -> TestDevice:
            return TestDevice(device_id, now=lambda: int(clock.now().timestamp()), kind=kind)

        with factory() as db_session:
            stream = bad_input_stream(db_session, clock, device)
            for topic, payload in stream.messages:
                processor.process([Inbound(topic, payload)])
            processor.process([Inbound(t, p) for t, p in stream.messages])  # all again
            stored = {(e.device_id, e.seq) for e in db_session.scalars(select(Event))}
            assert stored == stream.valid
            counts = rejection_counts(db_session=db_session)
            duplicates = counts.pop("duplicate", 0)
            expected = dict(stream.expected)
            expected_dupes = expected.pop("duplicate", 0)
            assert duplicates >= expected_dupes + len(stream.valid)
            assert {k: v for k, v in counts.items() if k in expected} == {
                k: 2 * v for k, v in expected.items()
            }

            dev = device("hh-pg-media")
            dev.register(db_session)
            db_session.commit()
            data = os.urandom(3 * 16384 + 10)
            msgs = [dev.event("report", {"text": "pg"}, blobs=[dev.media(data)])]
            msgs += dev.chunks(data)[::-1]
            processor.process([Inbound(t, p) for t, p in msgs])
            sha = hashlib.sha256(data).hexdigest()
            assert store.exists(sha)
            assert db_session.get(Blob, sha) is not None
    finally:
        engine.dispose()
    downgrade(postgres_url)


def test_base_data_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """Collections and visits into base data, the audit's record query and retention's
    erasure of event bodies (``length(raw)`` on bytea) on PostgreSQL."""
    from datetime import timedelta

    from hub.auth.models import Role
    from hub.auth.service import Principal
    from hub.basedata.models import Refusal, Resident, Visit
    from hub.basedata.retention import purge_base_data
    from hub.events.models import Event
    from hub.ingest.processor import Processor
    from hub.ingest.runner import use_openssl
    from hub.keys import load_or_create
    from hub.media.store import FileBlobStore
    from hub.mqtt_messages import Inbound
    from hub.privacy import audit
    from hub.privacy.policy import Reader
    from tests.builders.devices import TestDevice

    use_openssl()
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    grid, man = "33010200100101", "330102198503120014"
    try:
        settings = Settings(env="development", data_dir=tmp_path, database_url=postgres_url)
        clock = FrozenClock(START)
        factory = make_session_factory(engine)
        key, store = load_or_create(tmp_path / "hub_key.pem"), FileBlobStore(tmp_path / "media")
        processor = Processor(factory, key, store, clock=clock, settings=settings)
        with factory() as db_session:
            seed_demo(db_session=db_session, clock=clock)
            dev = TestDevice("hh-pg-field", now=lambda: int(clock.now().timestamp()))
            dev.register(db_session, grid)
            db_session.commit()
            head = {"grid": grid, "worker": "w00100101"}
            man_form = {"id_number": man, "name": "张伟", "gender": "1", "house_code": "H-0101"}
            msgs = [
                dev.event("signin", {**head, "ok": True}),
                dev.event("collect", {**head, "form": "house", "record": {
                    "house_code": "H-0101", "address": "1幢101", "use": "residential"}}),
                dev.event("collect", {**head, "form": "resident", "record": man_form}),
                dev.event("collect", {**head, "form": "resident",
                                      "record": {**man_form, "phone": "13800138000"}}),
                dev.event("collect", {**head, "form": "resident", "record": {"name": "x"}}),
                dev.event("visit", {**head, "place": {"kind": "household", "ref": "H-0101"},
                                    "purpose": "care", "outcome": "met", "text": "",
                                    "loc": None}),
            ]  # fmt: skip
            processor.process([Inbound(t, p) for t, p in msgs])
            (resident,) = db_session.scalars(select(Resident)).all()
            assert (resident.revision, resident.phone) == (2, "13800138000")
            assert db_session.scalars(select(Refusal.field)).all() == ["id_number"]
            assert db_session.scalars(select(Visit.house_code)).all() == ["H-0101"]
            reader = Reader(principal=Principal(name="op", role=Role.operator, scope_code=grid[:9]))
            for ids in ([resident.id], [resident.id + 1]):
                audit.record(db_session=db_session, reader=reader, action="list",
                             kind="resident", record_ids=ids, shown=[], withheld=["id_number"],
                             at=clock.now())  # fmt: skip
            db_session.commit()
            hits = audit.query_audits(db_session=db_session, scope_code="330102",
                                      kind="resident", record_id=resident.id)  # fmt: skip
            assert [h.record_ids for h in hits] == [[resident.id]]
            clock.advance(timedelta(days=settings.collect_event_retention_days + 1))
            out = purge_base_data(db_session=db_session, now=clock.now(), settings=settings)
            db_session.commit()
            assert out.collect_events == 4 and out.visit_events == 0
            bodies = db_session.scalars(select(Event.body).where(Event.kind == "collect")).all()
            assert all("record" not in b and b["worker"] == "w00100101" for b in bodies)
            assert all(man not in str(b) for b in bodies)
    finally:
        engine.dispose()
    downgrade(postgres_url)
