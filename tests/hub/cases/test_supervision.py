"""Deadlines on the working-day calendar; warnings before, escalation after (FrozenClock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.calendar import WorkCalendar
from hub.cases.flows import device_events
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import CaseStatus
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import report_event

CAL = WorkCalendar(holidays=frozenset({date(2026, 1, 1)}))
LOCAL = CAL.tz


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=LOCAL)


def test_working_time_skips_nights_weekends_and_holidays() -> None:
    # Friday 16:00 + 2 working hours -> Monday 10:00.
    assert CAL.add_working_time(local(9, 16), timedelta(hours=2)) == local(12, 10)
    # Saturday is not working time; the clock starts Monday 09:00.
    assert CAL.add_working_time(local(10, 11), timedelta(hours=1)) == local(12, 10)
    # Before opening hours counts from 09:00; exactly the day's 8 hours ends at 17:00.
    assert CAL.add_working_time(local(5, 7), timedelta(hours=8)) == local(5, 17)
    # 1 January 2026 (Thursday) is a holiday: Wednesday 17:00 + 1 h -> Friday 10:00.
    assert CAL.add_working_time(
        datetime(2025, 12, 31, 17, tzinfo=LOCAL), timedelta(hours=1)
    ) == local(2, 10)
    assert CAL.working_time_between(local(9, 16), local(12, 10)) == timedelta(hours=2)
    make_up = WorkCalendar(extra_working_days=frozenset({date(2026, 1, 10)}))
    assert make_up.add_working_time(local(9, 16), timedelta(hours=2)) == local(10, 10)
    assert CAL.add_working_time(local(5, 9), timedelta(0)) == local(5, 9)
    assert time(9) == CAL.day_start


def test_overdue_case_escalates_to_street_district_then_city_with_warnings(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    clock.set(local(5, 9))  # Monday 09:00
    case = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=1, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    db_session.commit()
    assert case.deadline_at == local(6, 17)  # road_damage: 16 working hours

    clock.set(local(6, 8))  # before 75 % of the time: nothing
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).changed == 0
    clock.set(local(6, 10))
    report = run_supervision(db_session=db_session, clock=clock, settings=settings)
    assert report.warned == [case.id] and not report.escalated
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).changed == 0

    clock.set(local(6, 17, 30))  # deadline passed -> street
    report = run_supervision(db_session=db_session, clock=clock, settings=settings)
    assert report.escalated == [case.id]
    assert case.level == "street" and case.status == CaseStatus.dispatched
    assert case.unit_id == demo.units["Qingbo Street urban management"]
    assert case.deadline_at == local(8, 17)  # a fresh 16 working hours from Wed 09:00
    assert case.warned_at is None

    clock.set(local(8, 12))
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).warned == [
        case.id
    ]
    clock.set(local(8, 18))  # street deadline passed -> district
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).escalated == [
        case.id
    ]
    assert case.level == "district"
    assert case.unit_id == demo.units["District roads bureau"]
    assert case.escalation_count == 2

    clock.set(local(14, 9))  # district deadline passed -> city, the top of the chain
    report = run_supervision(db_session=db_session, clock=clock, settings=settings)
    assert report.escalated == [case.id] and not report.supervised
    assert case.level == "city" and case.unit_id == demo.units["City command centre"]

    clock.set(local(20, 9))  # city deadline passed: listed supervision, once
    report = run_supervision(db_session=db_session, clock=clock, settings=settings)
    assert report.supervised == [case.id] and case.supervision_level == "listed"
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).changed == 0
    db_session.commit()

    trail = [(t.action, t.level) for t in case.transitions]
    assert trail == [
        ("collect", "community"),
        ("file", "community"),
        ("dispatch", "community"),
        ("accept", "community"),
        ("warn", "community"),
        ("escalate", "street"),
        ("warn", "street"),
        ("escalate", "district"),
        ("escalate", "city"),
        ("supervise", "city"),
    ]
    escalations = [t for t in case.transitions if t.action == "escalate"]
    assert escalations[0].evidence["from_level"] == "community"
    assert escalations[0].reason.startswith("overdue")
    assert escalations[0].actor == "system:supervision"


def test_unit_that_cannot_solve_escalates_and_historical_report_uses_capture_time(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    clock.set(local(5, 9))
    case = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=1, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    actions.escalate(
        db_session=db_session,
        case=case,
        actor="unit:office",
        at=clock.now(),
        settings=settings,
        reason="cannot solve: needs road closure",
    )
    assert case.level == "street" and case.transitions[-1].reason.startswith("cannot solve")
    captured = local(5, 9) - timedelta(days=3)  # Friday 09:00, uploaded after an outage
    old = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=2, at=captured, category="garbage", historical=True),
        clock=clock,
        settings=settings,
    )
    assert old.historical and old.deadline_start_at == captured.astimezone(UTC)
    assert old.deadline_at == local(2, 17)  # 8 working hours from Friday 09:00


def test_an_earlier_reminder_does_not_keep_an_overdue_case_at_the_top_off_the_list(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    from hub.cases.models import SupervisionLevel

    clock.set(local(5, 9))
    case = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=1, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    for _ in range(3):  # community -> street -> district -> city
        actions.escalate(
            db_session=db_session,
            case=case,
            actor="op",
            at=clock.now(),
            settings=settings,
            reason="cannot solve here",
        )
    actions.supervise(
        db_session=db_session,
        case=case,
        actor="op",
        at=clock.now(),
        level=SupervisionLevel.reminder,
        settings=settings,
        reason="please hurry",
    )
    db_session.commit()
    assert case.level == "city" and case.supervision_level == "reminder"
    clock.advance(days=30)
    report = run_supervision(db_session=db_session, clock=clock, settings=settings)
    assert report.supervised == [case.id]
    assert case.supervision_level == "listed"
    clock.advance(days=1)  # once listed, it is not listed again
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).supervised == []
