"""The case state machine: guards, the seven steps with their audit trail, rework, evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.flows import device_events, unit_feedback
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import AppendOnlyError, Case, CaseStatus, CaseTransition
from hub.cases.verification import VERIFY_TEXT_CHARS
from hub.cases.workflow import RULES, Action, allowed_actions, check
from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.errors import ConflictError, InvalidInputError, TransitionError
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import (
    GRID_LAT,
    GRID_LON,
    PHOTO,
    add_handheld,
    report_event,
    store_blob,
    verify_event,
)


def _report(db_session: Session, clock: FrozenClock, settings: Settings, seq: int = 1) -> Case:
    event = report_event(seq=seq, at=clock.now())
    case = device_events.on_report(
        db_session=db_session, event=event, clock=clock, settings=settings
    )
    db_session.commit()
    return case


def _actions(case: Case) -> list[str]:
    return [t.action for t in case.transitions]


def test_every_status_has_a_way_forward_or_is_terminal() -> None:
    reachable = {rule.target for rule in RULES.values() if rule.target}
    assert set(CaseStatus) <= reachable
    assert allowed_actions(CaseStatus.voided) == []
    assert Action.rate in allowed_actions(CaseStatus.closed)


def test_report_is_collected_filed_and_dispatched_to_the_community_unit(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    case = _report(db_session, clock, settings)
    assert case.status == CaseStatus.dispatched
    assert _actions(case) == ["collect", "file", "dispatch"]
    assert case.level == "community"
    # road_damage has no community-specific unit in the demo: the community office handles it.
    assert case.unit_id == demo.units["Qinghefang Community office"]
    # 16 working hours from Monday 09:00 local = Tuesday 17:00 local = Tuesday 09:00 UTC.
    assert case.deadline_at == clock.now() + timedelta(days=1, hours=8)
    assert case.media and case.reporter_worker_id == "w00100101"
    # The same event again (a redelivery) does not make a second case.
    again = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=1, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    assert again.id == case.id


def test_wrong_state_transitions_raise_precise_errors(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    case = _report(db_session, clock, settings)
    with pytest.raises(TransitionError) as info:
        actions.rate(db_session=db_session, case=case, actor="t", at=clock.now(), score=5)
    assert info.value.code == "invalid_transition"
    assert "cannot rate case" in info.value.message and "dispatched" in info.value.message
    assert "allowed from: closed" in info.value.message
    with pytest.raises(TransitionError):
        check(case, Action.feedback)
    with pytest.raises(TransitionError):
        actions.void(db_session=db_session, case=case, actor="t", at=clock.now(), reason="invalid")
    assert case.status == CaseStatus.dispatched  # nothing changed


def test_seven_steps_with_audit_trail(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
) -> None:
    store_blob(db_session, store, at=clock.now())
    add_handheld(db_session, at=clock.now())
    case = _report(db_session, clock, settings)
    clock.advance(minutes=30)
    actions.accept(db_session=db_session, case=case, actor="unit:office", at=clock.now())
    clock.advance(hours=3)
    unit_feedback.submit_feedback(
        db_session=db_session,
        case=case,
        actor="unit:office",
        text="pothole filled",
        blobs=[{"sha256": "cd" * 32, "size": 99, "mime": "image/jpeg"}],
        clock=clock,
        settings=settings,
    )
    db_session.commit()
    assert case.status == CaseStatus.verifying
    command = db_session.scalars(select(Command).where(Command.device_id == "hh-0001")).one()
    assert command.op == "verify"
    assert command.args["case_id"] == case.id and command.args["task_id"] == case.verify_task_id
    assert command.args["loc"]["lat_e6"] == GRID_LAT

    clock.advance(minutes=20)
    device_events.on_verify(
        db_session=db_session,
        event=verify_event(seq=2, at=clock.now(), case_id=case.id, task_id=case.verify_task_id),
        clock=clock,
        settings=settings,
    )
    assert case.status == CaseStatus.closed and case.closed_on_time is True
    actions.rate(db_session=db_session, case=case, actor="operator:x", at=clock.now(), score=4)
    db_session.commit()

    rows = db_session.scalars(
        select(CaseTransition).where(CaseTransition.case_id == case.id).order_by(CaseTransition.id)
    ).all()
    assert [r.action for r in rows] == [
        "collect",
        "file",
        "dispatch",
        "accept",
        "feedback",
        "request_verification",
        "close",
        "rate",
    ]
    steps = [RULES[Action(r.action)].step for r in rows]
    assert steps == [
        "collect",
        "file",
        "dispatch",
        "handle",
        "feedback",
        "verify",
        "close",
        "evaluate",
    ]
    assert [r.to_status for r in rows][-2:] == ["closed", "evaluated"]
    assert rows[0].actor == "worker:w00100101" and rows[6].actor == "worker:w00100101"
    assert rows[6].evidence["distance_m"] == 0.0 and rows[6].evidence["photos"]
    assert all(r.at is not None and r.at.tzinfo is not None for r in rows)
    assert case.satisfaction == 4 and case.status == CaseStatus.evaluated

    # The trail is append-only.
    rows[0].reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        db_session.flush()
    db_session.rollback()


def test_rejected_verification_is_rework_and_far_photo_is_refused(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
) -> None:
    store_blob(db_session, store, at=clock.now())
    add_handheld(db_session, at=clock.now())
    case = _report(db_session, clock, settings)
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=case, actor="unit", text="done", clock=clock, settings=settings
    )
    first_task = case.verify_task_id
    device_events.on_verify(
        db_session=db_session,
        event=verify_event(
            seq=2, at=clock.now(), case_id=case.id, task_id=first_task, result="reject"
        ),
        clock=clock,
        settings=settings,
    )
    assert case.status == CaseStatus.handling and case.rework_count == 1
    assert case.verify_task_id is None

    unit_feedback.submit_feedback(
        db_session=db_session,
        case=case,
        actor="unit",
        text="really done",
        clock=clock,
        settings=settings,
    )
    assert case.verify_task_id != first_task
    with pytest.raises(ConflictError):  # the old task is stale
        device_events.on_verify(
            db_session=db_session,
            event=verify_event(seq=3, at=clock.now(), case_id=case.id, task_id=first_task),
            clock=clock,
            settings=settings,
        )
    # Photo taken ~1.1 km away: recorded as refused, the case stays in verification.
    device_events.on_verify(
        db_session=db_session,
        event=verify_event(
            seq=4,
            at=clock.now(),
            case_id=case.id,
            task_id=case.verify_task_id,
            lat_e6=GRID_LAT + 10_000,
        ),
        clock=clock,
        settings=settings,
    )
    assert case.status == CaseStatus.verifying
    assert _actions(case)[-1] == "verify_refused"
    # No photo: refused too. Too late (after the window): refused.
    device_events.on_verify(
        db_session=db_session,
        event=verify_event(
            seq=5, at=clock.now(), case_id=case.id, task_id=case.verify_task_id, blobs=[]
        ),
        clock=clock,
        settings=settings,
    )
    clock.advance(seconds=settings.verify_window_s + 60)
    device_events.on_verify(
        db_session=db_session,
        event=verify_event(seq=6, at=clock.now(), case_id=case.id, task_id=case.verify_task_id),
        clock=clock,
        settings=settings,
    )
    assert _actions(case)[-3:] == ["verify_refused"] * 3
    assert case.status == CaseStatus.verifying
    with pytest.raises(InvalidInputError):
        device_events.on_verify(
            db_session=db_session,
            event=verify_event(
                seq=7, at=clock.now(), case_id=case.id, task_id=case.verify_task_id, result="maybe"
            ),
            clock=clock,
            settings=settings,
        )


def test_duplicate_report_is_linked_not_double_counted(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
) -> None:
    store_blob(db_session, store, at=clock.now())
    first = _report(db_session, clock, settings, seq=1)
    clock.advance(minutes=40)
    near = report_event(seq=2, at=clock.now(), lat_e6=GRID_LAT + 200, device_id="hh-0001")
    dup = device_events.on_report(db_session=db_session, event=near, clock=clock, settings=settings)
    assert dup.status == CaseStatus.voided and dup.void_reason == "duplicate"
    assert dup.duplicate_of_id == first.id
    # Another category at the same spot, or the same category 500 m away, is a new case.
    other = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=3, at=clock.now(), category="garbage"),
        clock=clock,
        settings=settings,
    )
    far = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=4, at=clock.now(), lat_e6=GRID_LAT + 4500),
        clock=clock,
        settings=settings,
    )
    assert other.status == far.status == CaseStatus.dispatched
    # garbage has a community-specific unit.
    assert other.unit_id == demo.units["Qinghefang Community property & sanitation"]
    # Three hours later the same problem is reported anew: a new case.
    clock.advance(hours=3)
    later = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=5, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    assert later.duplicate_of_id is None
    # A problem reported again after its case was closed is a new case, not a duplicate.
    add_handheld(db_session, at=clock.now())
    actions.accept(db_session=db_session, case=later, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session,
        case=later,
        actor="unit",
        text="fixed",
        clock=clock,
        settings=settings,
    )
    actions.close(
        db_session=db_session,
        case=later,
        actor="op",
        at=clock.now(),
        settings=settings,
        taken_at=clock.now(),
        loc={"lat_e6": GRID_LAT, "lon_e6": GRID_LON},
        blobs=[PHOTO],
    )
    clock.advance(minutes=30)
    again = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=6, at=clock.now()),
        clock=clock,
        settings=settings,
    )
    assert again.duplicate_of_id is None and again.status == CaseStatus.dispatched


def test_operator_intake_void_park_and_unknown_category(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    event = report_event(seq=1, at=clock.now(), category="no_such_category")
    case = device_events.on_report(
        db_session=db_session, event=event, clock=clock, settings=settings
    )
    assert case.status == CaseStatus.pending_acceptance and case.category_code is None
    with pytest.raises(InvalidInputError):
        actions.file(db_session=db_session, case=case, actor="op", at=clock.now())
    actions.file(
        db_session=db_session, case=case, actor="op", at=clock.now(), category_code="street_light"
    )
    with pytest.raises(InvalidInputError):
        actions.park(
            db_session=db_session,
            case=case,
            actor="op",
            at=clock.now(),
            review_at=clock.now() - timedelta(days=1),
            reason="x",
        )
    actions.park(
        db_session=db_session,
        case=case,
        actor="op",
        at=clock.now(),
        review_at=clock.now() + timedelta(days=30),
        reason="needs budget",
    )
    assert case.status == CaseStatus.parked and case.park_review_at is not None
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).changed == 0
    clock.advance(days=31)
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).review_due == [
        case.id
    ]
    assert run_supervision(db_session=db_session, clock=clock, settings=settings).changed == 0
    assert case.transitions[-1].reason == "review date of the parked case reached"
    actions.dispatch(
        db_session=db_session, case=case, actor="op", at=clock.now(), settings=settings
    )
    assert case.status == CaseStatus.dispatched and case.park_review_at is None
    void_me = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=2, at=clock.now(), category="nope"),
        clock=clock,
        settings=settings,
    )
    with pytest.raises(InvalidInputError):
        actions.void(
            db_session=db_session, case=void_me, actor="op", at=clock.now(), reason="bored"
        )
    actions.void(
        db_session=db_session,
        case=void_me,
        actor="op",
        at=clock.now(),
        reason="out_of_scope",
        note="private property",
    )
    assert void_me.status == CaseStatus.voided
    assert void_me.transitions[-1].reason == "out_of_scope: private property"


def test_escalation_only_to_a_unit_responsible_for_the_cases_area(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    case = _report(db_session, clock, settings)
    assert case.grid_code is not None and case.grid_code.startswith("330102001")
    other_street = demo.units["Hubin Street urban management"]
    own_street = demo.units["Qingbo Street urban management"]
    with pytest.raises(InvalidInputError, match="not responsible"):
        actions.escalate(
            db_session=db_session,
            case=case,
            actor="op",
            at=clock.now(),
            settings=settings,
            reason="cannot solve",
            unit_id=other_street,
        )
    actions.escalate(
        db_session=db_session,
        case=case,
        actor="op",
        at=clock.now(),
        settings=settings,
        reason="cannot solve",
        unit_id=own_street,
    )
    assert (case.level, case.unit_id) == ("street", own_street)


def test_a_very_long_report_can_still_be_sent_for_verification(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    add_handheld(db_session, at=clock.now())
    event = report_event(seq=1, at=clock.now(), text="路面塌陷" * 4000)  # 16,000 characters
    case = device_events.on_report(
        db_session=db_session, event=event, clock=clock, settings=settings
    )
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=case, actor="unit", text="fixed", clock=clock, settings=settings
    )
    db_session.commit()
    assert case.status == CaseStatus.verifying
    command = db_session.scalars(select(Command)).one()
    assert command.op == "verify" and len(command.args["text"]) == VERIFY_TEXT_CHARS
