"""What the units' liaisons are told (issue 15, item 2): a one-key report once and at once,
every dispatch and escalation, deadline warnings, the overdue notice and supervision notices,
each in the transaction of its change and shown on the case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.flows import device_events
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.notify import service
from hub.notify.models import Notification
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import report_event

SANITATION = "Qinghefang Community property & sanitation"
OFFICE = "Qinghefang Community office"
STREET = "Qingbo Street urban management"
ROADS = "District roads bureau"
CITY = "City command centre"


def _liaisons(db_session: Session, demo: DemoData, settings: Settings, at: datetime) -> None:
    for name in (SANITATION, OFFICE, STREET, ROADS, CITY):
        unit = service.get_unit(db_session=db_session, unit_id=demo.units[name])
        service.create_liaison(db_session=db_session, unit=unit, name=f"{name} liaison",
                               channel="webhook", address=f"http://127.0.0.1:9/{unit.id}",
                               kinds=[], settings=settings, at=at)  # fmt: skip
    db_session.commit()


def _sent(db_session: Session, demo: DemoData) -> list[tuple[str, str]]:
    """(kind, unit name) of every notice, oldest first, each with one delivery per liaison."""
    names = {v: k for k, v in demo.units.items()}
    rows = db_session.scalars(select(Notification).order_by(Notification.id)).all()
    assert all(len(r.deliveries) == 1 for r in rows), [(r.kind, r.unit_id) for r in rows]
    return [(r.kind, names.get(r.unit_id or 0, "-")) for r in rows]


def _one_key(seq: int, at: datetime, **kw: object) -> dict[str, object]:
    event = report_event(seq=seq, at=at, **kw)  # type: ignore[arg-type]
    event["body"]["one_key"] = True  # type: ignore[index]
    return event


def test_a_one_key_report_is_one_notice_to_its_unit_and_a_plain_one_a_dispatch(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    _liaisons(db_session, demo, settings, clock.now())
    urgent = device_events.on_report(
        db_session=db_session,
        clock=clock,
        settings=settings,
        event=_one_key(1, clock.now(), category="garbage"),
    )
    db_session.commit()
    assert urgent.one_key and urgent.status == "dispatched"
    assert _sent(db_session, demo) == [("one_key_report", SANITATION)]
    note = db_session.scalars(select(Notification)).one()
    assert note.subject.startswith("【网格通】一键上报：案件") and "One-key report" in note.subject
    assert note.data["case"]["one_key"] is True and note.data["case"]["id"] == urgent.id
    assert note.deliveries[0].next_attempt_at == clock.now()  # due at once
    device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                            event=report_event(seq=2, at=clock.now(), category="road_damage",
                                               text="路面破损", lat_e6=30_252_000))  # fmt: skip
    db_session.commit()
    assert _sent(db_session, demo)[1] == ("dispatch", OFFICE)  # no community roads unit


def test_a_one_key_report_nobody_dispatched_still_reaches_the_responsible_unit(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    _liaisons(db_session, demo, settings, clock.now())
    case = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                   event=_one_key(1, clock.now(), category="no_such"))  # fmt: skip
    db_session.commit()
    assert case.status == "pending_acceptance"  # unclassified: an operator files it
    assert _sent(db_session, demo) == [("one_key_report", OFFICE)]  # the area's catch-all
    # a second one-key report of an open problem is linked, and the first case's unit told
    first = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                    event=report_event(seq=2, at=clock.now(),
                                                       category="garbage"))  # fmt: skip
    clock.advance(timedelta(minutes=5))
    again = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                    event=_one_key(3, clock.now(), category="garbage"))  # fmt: skip
    db_session.commit()
    assert again.duplicate_of_id == first.id
    assert _sent(db_session, demo)[-1] == ("one_key_report", SANITATION)
    note = db_session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert note is not None and note.case_id == again.id


def test_deadline_warning_escalation_overdue_and_listed_supervision_are_each_notified(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    clock.set(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))  # Monday 09:00 local
    _liaisons(db_session, demo, settings, clock.now())
    case = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                   event=report_event(seq=1, at=clock.now()))  # fmt: skip
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    db_session.commit()
    for day, hour in ((6, 2), (6, 9 + 1), (8, 4), (8, 10), (14, 1), (20, 1)):  # UTC hours
        clock.set(datetime(2026, 1, day, hour, 30, tzinfo=UTC))
        run_supervision(db_session=db_session, clock=clock, settings=settings)
        db_session.commit()
    assert case.level == "city" and case.supervision_level == "listed"
    assert _sent(db_session, demo) == [
        ("dispatch", OFFICE),
        ("deadline_warning", OFFICE),
        ("escalation", STREET),
        ("overdue", OFFICE),
        ("deadline_warning", STREET),
        ("escalation", ROADS),
        ("overdue", STREET),
        ("escalation", CITY),  # the top of the chain
        ("overdue", ROADS),
        ("supervision", CITY),
    ]
    listed = db_session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert listed is not None and "挂牌督办" in listed.subject
    assert listed.data["supervision_level"] == "listed"


def test_the_case_shows_what_its_units_were_told(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData,
) -> None:  # fmt: skip
    _liaisons(db_session, demo, settings, clock.now())
    case = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                   event=_one_key(1, clock.now(), category="garbage"))  # fmt: skip
    db_session.commit()
    op = {"Authorization": f"Bearer {demo.tokens['district-operator']}"}
    answer = client.post(f"/api/cases/{case.id}/supervise", headers=op,
                         json={"level": "reminder", "reason": "请尽快处理"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    detail = client.get(f"/api/cases/{case.id}", headers=op).json()
    assert detail["one_key"] is True
    assert [(n["kind"], n["deliveries"][0]["status"]) for n in detail["notifications"]] == [
        ("one_key_report", "pending"), ("supervision", "pending")]  # fmt: skip
    office = {"Authorization": f"Bearer {demo.tokens['unit-330102001001-office']}"}
    assert client.get(f"/api/cases/{case.id}", headers=office).status_code == 404  # not its case
    assert db_session.get(Case, case.id) is not None
