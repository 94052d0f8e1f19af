"""Retention per data kind under a controlled clock: the supervision pass's base-data step
deletes expired residents, organisations, visits and audit rows, and erases the personal part
of stored ``collect`` / ``visit`` events (their rows, chain and worker counts stay)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from hub.basedata.models import House, Organisation, Resident, Visit
from hub.basedata.retention import purge_base_data
from hub.clock import FrozenClock
from hub.db import checkpoint_wal, make_engine, sqlite_path
from hub.events.models import Event
from hub.privacy.models import AccessAudit
from tests.hub.basedata.conftest import CREDIT, HOUSE, MAN, WOMAN, WORKER, Field


def _count(field: Field, model: type) -> int:
    with field.processor.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _purge(field: Field, clock: FrozenClock) -> dict[str, int]:
    with field.processor.session_factory() as s:
        out = purge_base_data(db_session=s, now=clock.now(), settings=field.settings)
        s.commit()
    return vars(out)


def test_retention_deletes_expired_records_and_erases_event_bodies(
    field: Field, clock: FrozenClock
) -> None:
    field.household()
    field.collect(
        "organisation",
        {
            "credit_code": CREDIT,
            "name": "清河坊茶馆",
            "kind": "enterprise",
            "address": "清河坊街88号",
            "contact_phone": "13700137000",
        },
    )
    field.visit("household", HOUSE)
    field.get("/api/basedata/residents", "district-operator")  # one audit row
    assert _purge(field, clock) == dict.fromkeys(
        ("residents", "organisations", "visits", "collect_events", "visit_events", "audits"), 0
    )

    # a month on: the collect events lose their forms, the records stay
    clock.advance(timedelta(days=field.settings.collect_event_retention_days, seconds=1))
    assert _purge(field, clock)["collect_events"] == 4
    with field.processor.session_factory() as s:
        collects = s.scalars(select(Event).where(Event.kind == "collect")).all()
        assert all(e.raw == b"" and "record" not in e.body for e in collects)
        assert all(e.body["worker"] == WORKER and e.body["grid"] for e in collects)
        assert sorted(e.body["form"] for e in collects) == [
            "house",
            "organisation",
            "resident",
            "resident",
        ]
        assert s.scalar(select(func.count()).select_from(Resident)) == 2
        visit_event = s.scalars(select(Event).where(Event.kind == "visit")).one()
        assert visit_event.raw != b""  # kept as long as its visit
    texts = [field.client.get("/api/events", headers=field.root).text]
    assert all(MAN not in t and WOMAN not in t for t in texts)
    assert _purge(field, clock)["collect_events"] == 0  # erased once

    # the man is collected again a year later; the woman is not
    clock.advance(timedelta(days=365))
    field.collect(
        "resident", {"id_number": MAN, "name": "张伟", "gender": "1", "house_code": HOUSE}
    )
    # past the visit retention: the visit and its event's place and text go
    clock.advance(timedelta(days=field.settings.visit_retention_days - 365))
    out = _purge(field, clock)
    assert (out["visits"], out["visit_events"], out["residents"]) == (1, 1, 0)
    with field.processor.session_factory() as s:
        visit_event = s.scalars(select(Event).where(Event.kind == "visit")).one()
        assert visit_event.body["place"] == {"kind": "household"} and "text" not in visit_event.body
        assert visit_event.body["worker"] == WORKER and visit_event.raw == b""
    assert _count(field, Visit) == 0

    # three years after the first collection the woman (never confirmed since) is deleted,
    # the man (confirmed a year later) stays; the organisation goes too
    clock.advance(
        timedelta(days=field.settings.resident_retention_days - field.settings.visit_retention_days)
    )
    out = _purge(field, clock)
    assert (out["residents"], out["organisations"]) == (1, 1)
    with field.processor.session_factory() as s:
        assert s.scalars(select(Resident.id_number)).all() == [MAN]
    assert _count(field, Organisation) == 0 and _count(field, House) == 1
    # gone from the file too: zeroed where deleted (secure_delete) and out of the WAL
    engine = make_engine(field.settings.database_url)
    try:
        assert checkpoint_wal(engine)
    finally:
        engine.dispose()
    path = sqlite_path(field.settings.database_url)
    assert path is not None
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert MAN.encode() in stored  # the man is still collected: the scan can find a number
    assert WOMAN.encode() not in stored and CREDIT.encode() not in stored

    # the audit rows outlive the data, then go too
    audits = _count(field, AccessAudit)
    assert audits >= 1
    clock.advance(timedelta(days=field.settings.access_audit_retention_days))
    assert _purge(field, clock)["audits"] == audits
    assert _count(field, AccessAudit) == 0
