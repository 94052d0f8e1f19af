"""Every case transition, one function per ``workflow.Action``: each checks the state machine,
updates the case and appends its transition row. They flush at most; callers commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import boundaries
from hub.areas.models import Level, Unit
from hub.cases import notices, parts, supervisions, verification
from hub.cases.categories import get_category
from hub.cases.deadlines import deadline_for
from hub.cases.evidence import blob_shas, check_evidence, stored_evidence
from hub.cases.models import (
    CallbackOutcome,
    Case,
    CaseStatus,
    CaseTransition,
    CaseUnit,
    HotlineTicket,
    PartStatus,
    Supervision,
    SupervisionLevel,
    SupervisionStatus,
    VisitOutcome,
    VoidReason,
)
from hub.cases.routing import assign, check_responsible, co_route, top_of_chain, upper_level
from hub.cases.workflow import SYSTEM_ACTOR, Action, check, record
from hub.clock import Clock
from hub.errors import ConflictError, EvidenceError, InvalidInputError, NotFoundError
from hub.media.service import add_refs
from hub.notify.models import NotificationKind
from hub.settings import Settings


def collect(*, db_session: Session, case: Case, actor: str, at: datetime) -> CaseTransition:
    evidence: dict[str, Any] = {"media": case.media}
    if case.device_id is not None:
        evidence.update(device_id=case.device_id, seq=case.event_seq, historical=case.historical)
    row = record(
        db_session=db_session,
        case=case,
        action=Action.collect,
        actor=actor,
        at=at,
        reason=f"{case.source} received",
        evidence=evidence,
    )
    db_session.flush()  # the case gets its id
    return row


def file(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    category_code: str | None = None,
    reason: str | None = None,
) -> CaseTransition:
    check(case, Action.file)
    if category_code is not None:
        if get_category(db_session=db_session, code=category_code) is None:
            raise InvalidInputError(f"unknown category {category_code}")
        case.category_code = category_code
    if case.category_code is None:
        raise InvalidInputError("a case needs a category before it is filed")
    if case.grid_code is None:
        raise InvalidInputError("a case needs a grid before it is filed")
    return record(
        db_session=db_session, case=case, action=Action.file, actor=actor, at=at, reason=reason
    )


def void(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    reason: VoidReason | str,
    note: str | None = None,
    duplicate_of: Case | None = None,
) -> CaseTransition:
    check(case, Action.void)
    try:
        code = VoidReason(reason)
    except ValueError as exc:
        choices = [r.value for r in VoidReason]
        raise InvalidInputError(f"void reason must be one of {choices}") from exc
    if code == VoidReason.duplicate and duplicate_of is not None:
        case.duplicate_of_id = duplicate_of.id
    case.void_reason = code.value
    evidence = {"duplicate_of": duplicate_of.id} if duplicate_of is not None else {}
    row = record(
        db_session=db_session,
        case=case,
        action=Action.void,
        actor=actor,
        at=at,
        reason=f"{code.value}: {note}" if note else code.value,
        evidence=evidence,
    )
    if case.id is not None:
        supervisions.settle_case(db_session=db_session, case=case, at=at)
    return row


def void_duplicate(
    *, db_session: Session, case: Case, first: Case, actor: str, at: datetime, note: str = ""
) -> CaseTransition:
    """Void ``case`` as a duplicate of ``first`` and link it there (a report or a hotline order
    about a problem already open)."""
    row = void(
        db_session=db_session,
        case=case,
        actor=actor,
        at=at,
        reason=VoidReason.duplicate,
        note=f"same problem as case {first.id}{note}",
        duplicate_of=first,
    )
    db_session.flush()
    return row


def dispatch(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    unit_id: int | None = None,
    start: datetime | None = None,
    reason: str | None = None,
    co_unit_ids: list[int] | None = None,
) -> CaseTransition:
    """Assign to a unit at the case's level with a deadline from ``start`` (default ``at``),
    with the co-handling units ``co_unit_ids`` (None: those routing names for the category;
    ``[]``: none)."""
    check(case, Action.dispatch)
    if case.grid_code is None:
        raise InvalidInputError("a case needs a grid before it is dispatched")
    assign(
        db_session=db_session,
        case=case,
        level=Level(case.level),
        unit_id=unit_id,
        start=start or at,
        settings=settings,
    )
    if case.unit_id is None:
        raise InvalidInputError(
            f"no unit is responsible for {case.category_code} at {case.level} level; name one"
        )
    case.park_review_at = None
    first_one_key = case.one_key and not _dispatched_before(db_session, case)
    row = record(
        db_session=db_session,
        case=case,
        action=Action.dispatch,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"deadline_at": case.deadline_at.isoformat() if case.deadline_at else None},
    )
    # a one-key report's first dispatch is its one-key notice: the liaison hears once, at once
    kind = NotificationKind.one_key_report if first_one_key else NotificationKind.dispatch
    notices.announce(
        db_session=db_session, case=case, kind=kind, at=at, settings=settings, note=reason
    )
    if co_unit_ids is None:
        assert case.grid_code is not None
        routed = co_route(
            db_session=db_session,
            category_code=case.category_code,
            grid_code=case.grid_code,
            level=case.level,
            lead_id=case.unit_id,
        )
        co_unit_ids = [u.id for u in routed]
    if co_unit_ids:
        co_assign(db_session=db_session, case=case, actor=actor, at=at, settings=settings,
                  unit_ids=co_unit_ids, reason=reason)  # fmt: skip
    return row


def co_assign(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    unit_ids: list[int],
    reason: str | None = None,
) -> CaseTransition | None:
    """Ask ``unit_ids`` to co-handle the case beside its lead unit (a unit already asked is
    left as it is; a released one is asked again). Each new co-handler is notified. None when
    nobody new was asked."""
    check(case, Action.co_assign)
    assert case.grid_code is not None
    added: list[int] = []
    for unit_id in dict.fromkeys(unit_ids):
        if unit_id == case.unit_id:
            raise InvalidInputError(f"unit {unit_id} leads case {case.id}: it cannot co-handle it")
        unit = db_session.get(Unit, unit_id)
        if unit is None:
            raise NotFoundError(f"unit {unit_id} not found")
        check_responsible(unit=unit, grid_code=case.grid_code, level=Level(case.level))
        part = parts.part_of(db_session=db_session, case_id=case.id, unit_id=unit_id)
        if part is not None and part.status != PartStatus.released:
            continue
        if part is None:
            part = CaseUnit(case_id=case.id, unit_id=unit_id, media=[])
            db_session.add(part)
        part.status, part.assigned_at, part.assigned_by = PartStatus.assigned.value, at, actor
        part.done_at = part.done_by = part.feedback = part.released_reason = None
        added.append(unit_id)
    if not added:
        return None
    db_session.flush()
    row = record(
        db_session=db_session,
        case=case,
        action=Action.co_assign,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"unit_ids": added, "lead_unit_id": case.unit_id},
    )
    for unit_id in added:
        notices.announce(db_session=db_session, case=case, kind=NotificationKind.dispatch,
                         at=at, settings=settings, unit_id=unit_id,
                         note=f"协办 / co-handling{': ' + reason if reason else ''}")  # fmt: skip
    return row


def co_feedback(
    *,
    db_session: Session,
    case: Case,
    unit_id: int,
    actor: str,
    at: datetime,
    text: str,
    blobs: list[dict[str, Any]] | None = None,
) -> CaseTransition:
    """A co-handler's part done, with its result (it may correct it while the case is open)."""
    check(case, Action.co_feedback)
    part = parts.part_of(db_session=db_session, case_id=case.id, unit_id=unit_id)
    if part is None or part.status == PartStatus.released:
        raise ConflictError(
            f"unit {unit_id} does not co-handle case {case.id}", code="not_a_co_handler"
        )
    add_refs(db_session=db_session, shas=blob_shas(blobs), grid_code=case.grid_code, at=at)
    part.status, part.done_at, part.done_by = PartStatus.done.value, at, actor
    part.feedback, part.media = text, list(blobs or [])
    return record(
        db_session=db_session,
        case=case,
        action=Action.co_feedback,
        actor=actor,
        at=at,
        reason=text,
        evidence={"unit_id": unit_id, "media": list(blobs or [])},
    )


def co_release(
    *, db_session: Session, case: Case, unit_id: int, actor: str, at: datetime, reason: str
) -> CaseTransition:
    """Let a co-handler go before its part is done (it was asked by mistake, or the lead can
    finish without it); the reason is recorded and the unit no longer sees the case."""
    check(case, Action.co_release)
    part = parts.part_of(db_session=db_session, case_id=case.id, unit_id=unit_id)
    if part is None or part.status != PartStatus.assigned:
        state = "not a co-handler" if part is None else part.status
        raise ConflictError(
            f"unit {unit_id} has no open part in case {case.id} ({state})",
            code="not_a_co_handler",
        )
    part.status, part.released_reason = PartStatus.released.value, reason
    return record(
        db_session=db_session,
        case=case,
        action=Action.co_release,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"unit_id": unit_id},
    )


def _dispatched_before(db_session: Session, case: Case) -> bool:
    if case.id is None:
        return False
    return (
        db_session.scalar(
            select(CaseTransition.id).where(
                CaseTransition.case_id == case.id,
                CaseTransition.action.in_((Action.dispatch.value, Action.escalate.value)),
            )
        )
        is not None
    )


def accept(
    *, db_session: Session, case: Case, actor: str, at: datetime, reason: str | None = None
) -> CaseTransition:
    return record(
        db_session=db_session, case=case, action=Action.accept, actor=actor, at=at, reason=reason
    )


def feedback(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    text: str,
    blobs: list[dict[str, Any]] | None = None,
) -> CaseTransition:
    check(case, Action.feedback)
    waiting = parts.pending_parts(db_session=db_session, case_id=case.id)
    if waiting:
        names = ", ".join(str(p.unit_id) for p in waiting)
        raise ConflictError(
            f"case {case.id} waits for its co-handlers' parts (units {names}): each gives its "
            "feedback (POST /api/cases/{id}/co-feedback), or an operator releases it "
            "(POST /api/cases/{id}/co-release)",
            code="co_feedback_pending",
            unit_ids=[p.unit_id for p in waiting],
        )
    case.handled_at = at
    add_refs(db_session=db_session, shas=blob_shas(blobs), grid_code=case.grid_code, at=at)
    return record(
        db_session=db_session,
        case=case,
        action=Action.feedback,
        actor=actor,
        at=at,
        reason=text,
        evidence={"media": list(blobs or [])},
    )


def request_verification(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    clock: Clock,
) -> CaseTransition:
    """Queue a signed ``verify`` command for the active handheld of the case's grid."""
    check(case, Action.request_verification)
    if case.grid_code is None:
        raise InvalidInputError("the case has no grid to verify in")
    task_id, device_id, command_id = verification.push_task(
        db_session=db_session, case=case, settings=settings, clock=clock
    )
    case.verify_task_id, case.verify_device_id, case.verify_requested_at = task_id, device_id, at
    return record(
        db_session=db_session,
        case=case,
        action=Action.request_verification,
        actor=actor,
        at=at,
        reason=f"verification pushed to {device_id}",
        evidence={"task_id": task_id, "device_id": device_id, "command_id": command_id},
    )


def escalate(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    reason: str,
    unit_id: int | None = None,
    overdue: bool = False,
) -> CaseTransition:
    """Move the case one level up the escalation chain (``settings.escalation_chain``: e.g.
    community -> street -> district -> city) with a fresh deadline, notifying the new unit
    (and, ``overdue``: the unit whose deadline passed). Refused at the top of the chain."""
    check(case, Action.escalate)
    upper = upper_level(db_session=db_session, case=case, settings=settings)
    if upper is None:
        raise InvalidInputError(
            f"case {case.id} cannot escalate: it is at {top_of_chain(case, settings)}",
            code="top_of_chain",
        )
    from_level, from_unit = case.level, case.unit_id
    assign(
        db_session=db_session, case=case, level=upper, unit_id=unit_id, start=at, settings=settings
    )
    case.escalation_count += 1
    row = record(
        db_session=db_session,
        case=case,
        action=Action.escalate,
        actor=actor,
        at=at,
        reason=reason,
        evidence={
            "from_level": from_level,
            "from_unit_id": from_unit,
            "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
        },
    )
    notices.announce(
        db_session=db_session,
        case=case,
        kind=NotificationKind.escalation,
        at=at,
        settings=settings,
        note=reason,
    )
    if overdue and from_unit is not None and from_unit != case.unit_id:
        notices.announce(
            db_session=db_session,
            case=case,
            kind=NotificationKind.overdue,
            at=at,
            settings=settings,
            unit_id=from_unit,
            note=reason,
        )
    return row


def park(
    *, db_session: Session, case: Case, actor: str, at: datetime, review_at: datetime, reason: str
) -> CaseTransition:
    check(case, Action.park)
    if review_at <= at:
        raise InvalidInputError("the review date of a parked case must be in the future")
    case.park_review_at = review_at
    case.deadline_at = case.deadline_start_at = case.warned_at = None
    return record(
        db_session=db_session,
        case=case,
        action=Action.park,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"review_at": review_at.isoformat()},
    )


def close(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    taken_at: datetime,
    loc: dict[str, Any] | None,
    blobs: list[dict[str, Any]] | None,
    text: str | None = None,
) -> CaseTransition:
    check(case, Action.close)
    _require_callback(db_session=db_session, case=case)
    blobs = stored_evidence(db_session=db_session, blobs=blobs)
    boundary = (
        boundaries.current(db_session=db_session, grid_code=case.grid_code)
        if case.grid_code is not None
        else None
    )
    facts = check_evidence(case=case, settings=settings, taken_at=taken_at, loc=loc, blobs=blobs,
                           boundary=boundary)  # fmt: skip
    add_refs(db_session=db_session, shas=blob_shas(blobs), grid_code=case.grid_code, at=at)
    case.closed_at = at
    done = case.handled_at or at
    case.closed_on_time = case.deadline_at is None or done <= case.deadline_at
    row = record(
        db_session=db_session,
        case=case,
        action=Action.close,
        actor=actor,
        at=at,
        reason=text,
        evidence={"loc": loc, "media": list(blobs or []), **facts},
    )
    supervisions.settle_case(db_session=db_session, case=case, at=at)
    return row


def _require_callback(*, db_session: Session, case: Case) -> None:
    """A hotline case whose ticket asks for a callback closes only after one that did not find
    the problem unsolved (hub.cases.hotline); an EvidenceError, so a handheld's confirmation is
    recorded as ``verify_refused`` with this reason."""
    if case.source != "hotline":
        return
    ticket = db_session.scalar(select(HotlineTicket).where(HotlineTicket.case_id == case.id))
    if ticket is None or not ticket.callback_required:
        return
    done = ticket.callback_outcome in (CallbackOutcome.confirmed, CallbackOutcome.unreachable)
    if not done:
        raise EvidenceError(
            f"case {case.id} came from hotline ticket {ticket.ticket_id}, which asks for a "
            "callback: call the caller back first (POST /api/cases/{id}/callback)",
            code="callback_required",
            ticket_id=ticket.ticket_id,
        )


def verify_refused(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    reason: str,
    evidence: dict[str, Any],
    action: Action = Action.verify_refused,
) -> CaseTransition:
    """A failed evidence gate, or (``verify_pending``) photos not yet held: the case stays."""
    return record(
        db_session=db_session,
        case=case,
        action=action,
        actor=actor,
        at=at,
        reason=reason,
        evidence={**evidence, "task_id": case.verify_task_id},
    )


def rework(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    reason: str,
    action: Action = Action.reopen,
    loc: dict[str, Any] | None = None,
    blobs: list[dict[str, Any]] | None = None,
    settings: Settings | None = None,
) -> CaseTransition:
    """Send the case back to handling (``reject`` after a failed verification, ``reopen``, or
    a ``complaint``). Reopened after closing, the unit gets a fresh deadline from ``at``."""
    check(case, action)
    if settings is not None and case.status in (CaseStatus.closed, CaseStatus.evaluated):
        case.deadline_start_at, case.warned_at = at, None
        case.deadline_at = deadline_for(db_session=db_session, category_code=case.category_code,
                                        start=at, settings=settings)  # fmt: skip
    case.rework_count += 1
    case.closed_at = case.closed_on_time = case.handled_at = None
    case.verify_task_id = case.verify_device_id = case.verify_requested_at = None
    return record(
        db_session=db_session,
        case=case,
        action=action,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"loc": loc, "media": list(blobs or [])},
    )


def rate(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    score: int,
    comment: str | None = None,
    settings: Settings | None = None,
) -> CaseTransition:
    """Rate 1-5; a score under ``settings.reopen_below_satisfaction`` reopens the case."""
    check(case, Action.rate)
    if not 1 <= score <= 5:
        raise InvalidInputError("satisfaction is rated 1 to 5")
    case.satisfaction = score
    row = record(
        db_session=db_session,
        case=case,
        action=Action.rate,
        actor=actor,
        at=at,
        reason=comment,
        evidence={"satisfaction": score},
    )
    if settings is not None and score < settings.reopen_below_satisfaction:
        rework(
            db_session=db_session,
            case=case,
            actor=SYSTEM_ACTOR,
            at=at,
            reason=f"满意度 {score} 低于 {settings.reopen_below_satisfaction} / satisfaction "
            f"{score} below {settings.reopen_below_satisfaction}: back to handling",
            action=Action.reopen,
            settings=settings,
        )
    return row


def complain(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    text: str,
    channel: str,
) -> CaseTransition:
    """A resident's complaint about a closed case: back to handling, rework for the unit, a
    fresh deadline; only within ``complaint_window_days`` of the closing."""
    check(case, Action.complaint)
    assert case.closed_at is not None
    until = case.closed_at + timedelta(days=settings.complaint_window_days)
    if at > until:
        raise ConflictError(
            f"case {case.id} closed {case.closed_at.date()}: a complaint reopens it only within "
            f"{settings.complaint_window_days} days; file a new case instead",
            code="complaint_window_passed",
        )
    return rework(db_session=db_session, case=case, actor=actor, at=at,
                  reason=f"[{channel}] {text}", action=Action.complaint,
                  settings=settings)  # fmt: skip


def return_visit(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    outcome: VisitOutcome | str,
    note: str | None = None,
) -> CaseTransition:
    """A return visit (回访) to the resident after closing, recorded with its outcome."""
    check(case, Action.return_visit)
    try:
        found = VisitOutcome(outcome)
    except ValueError as exc:
        raise InvalidInputError(
            f"a return visit's outcome is one of {[o.value for o in VisitOutcome]}"
        ) from exc
    return record(db_session=db_session, case=case, action=Action.return_visit, actor=actor,
                  at=at, reason=note, evidence={"outcome": found.value})  # fmt: skip


def warn(
    *, db_session: Session, case: Case, actor: str, at: datetime, settings: Settings
) -> CaseTransition:
    """Flag an approaching deadline (its unit is notified), or a parked case whose review date
    has come (the centre's own work: no notice), once each."""
    check(case, Action.warn)
    if case.status == CaseStatus.parked:
        review_at = case.park_review_at.isoformat() if case.park_review_at else None
        reason, evidence = "review date of the parked case reached", {"review_at": review_at}
    elif case.deadline_at is not None:
        deadline = case.deadline_at.isoformat()
        reason = f"deadline {deadline} approaching"
        evidence = {"deadline_at": deadline, "level": case.level}
    else:
        raise InvalidInputError(f"case {case.id} has no deadline to warn about")
    case.warned_at = at
    row = record(
        db_session=db_session,
        case=case,
        action=Action.warn,
        actor=actor,
        at=at,
        reason=reason,
        evidence=evidence,
    )
    if case.status != CaseStatus.parked and case.unit_id is not None:
        notices.announce(
            db_session=db_session,
            case=case,
            kind=NotificationKind.deadline_warning,
            at=at,
            settings=settings,
            note=reason,
        )
    return row


def supervise(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    level: SupervisionLevel | str,
    settings: Settings,
    reason: str | None = None,
    deadline_at: datetime | None = None,
    automatic: bool = False,
    previous: Supervision | None = None,
) -> CaseTransition:
    """Issue a supervision notice of ``level`` to the case's unit (a ``Supervision`` record with
    its deadline); the unit is notified."""
    check(case, Action.supervise)
    try:
        kind = SupervisionLevel(level)
    except ValueError as exc:
        raise InvalidInputError(
            f"supervision level must be one of {[s.value for s in SupervisionLevel]}"
        ) from exc
    notice = supervisions.issue(
        db_session=db_session,
        case=case,
        kind=kind,
        actor=actor,
        at=at,
        settings=settings,
        reason=reason,
        deadline_at=deadline_at,
        automatic=automatic,
        previous=previous,
    )
    assert notice.deadline_at is not None
    row = record(
        db_session=db_session,
        case=case,
        action=Action.supervise,
        actor=actor,
        at=at,
        reason=reason,
        evidence={
            "supervision_level": kind.value,
            "supervision_id": notice.id,
            "deadline_at": notice.deadline_at.isoformat(),
            "previous_id": notice.previous_id,
        },
    )
    if case.unit_id is not None:
        due = notices.local_time(notice.deadline_at, settings)
        notices.announce(
            db_session=db_session,
            case=case,
            kind=NotificationKind.supervision,
            at=at,
            settings=settings,
            note=f"{reason + '；' if reason else ''}答复期限 / answer by {due}",
            supervision_level=kind.value,
        )
    return row


def supervision_response(
    *, db_session: Session, case: Case, notice: Supervision, actor: str, at: datetime, text: str
) -> CaseTransition:
    """The target unit's response to a supervision notice."""
    check(case, Action.supervision_response)
    supervisions.respond(db_session=db_session, row=notice, actor=actor, at=at, text=text)
    return record(
        db_session=db_session,
        case=case,
        action=Action.supervision_response,
        actor=actor,
        at=at,
        reason=text,
        evidence={"supervision_id": notice.id, "kind": notice.kind, "status": notice.status},
    )


def supervision_withdraw(
    *, db_session: Session, case: Case, notice: Supervision, actor: str, at: datetime, reason: str
) -> CaseTransition:
    """Withdraw an open supervision notice (issued by mistake); the reason is recorded."""
    check(case, Action.supervision_withdraw)
    if notice.status != SupervisionStatus.open:
        raise ConflictError(f"supervision {notice.id} is {notice.status}, no longer open")
    supervisions.end(notice, SupervisionStatus.withdrawn, at, reason)
    db_session.flush()
    case.supervision_level = supervisions.heaviest_open(db_session=db_session, case_id=case.id)
    case.supervised = case.supervision_level is not None
    return record(
        db_session=db_session,
        case=case,
        action=Action.supervision_withdraw,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"supervision_id": notice.id, "kind": notice.kind},
    )
