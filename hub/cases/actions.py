"""One function per workflow action. Each checks the state machine, updates the case and
appends its transition row. Callers commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.areas.models import Level, Unit
from hub.cases import service
from hub.cases.geo import haversine_m
from hub.cases.models import Case, CaseTransition, SupervisionLevel, VoidReason
from hub.cases.workflow import Action, check, record
from hub.errors import EvidenceError, InvalidInputError, NotFoundError
from hub.settings import Settings


def collect(*, db_session: Session, case: Case, actor: str, at: datetime) -> CaseTransition:
    evidence = {"media": case.media}
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
        if service.get_category(db_session=db_session, code=category_code) is None:
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
    return record(
        db_session=db_session,
        case=case,
        action=Action.void,
        actor=actor,
        at=at,
        reason=f"{code.value}: {note}" if note else code.value,
        evidence=evidence,
    )


def _assign(
    *,
    db_session: Session,
    case: Case,
    level: Level,
    unit_id: int | None,
    start: datetime,
    settings: Settings,
) -> None:
    assert case.grid_code is not None
    if unit_id is not None:
        unit = db_session.get(Unit, unit_id)
        if unit is None:
            raise NotFoundError(f"unit {unit_id} not found")
        area = service.area_code_at(case.grid_code, level)
        if not any(r.area_code == area for r in unit.responsibilities):
            # a unit of another community / street would otherwise see and act on the case
            raise InvalidInputError(
                f"unit {unit_id} ({unit.name}) is not responsible for area {area} "
                f"at {level.value} level",
                code="unit_not_responsible",
            )
    else:
        unit = service.route(
            db_session=db_session,
            category_code=case.category_code,
            grid_code=case.grid_code,
            level=level,
        )
    case.level = level.value
    case.unit_id = unit.id if unit is not None else None
    case.deadline_start_at = start
    case.deadline_at = service.deadline_for(
        db_session=db_session, category_code=case.category_code, start=start, settings=settings
    )
    case.warned_at = None


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
) -> CaseTransition:
    """Assign to a unit at the case's level with a deadline from ``start`` (default ``at``)."""
    check(case, Action.dispatch)
    if case.grid_code is None:
        raise InvalidInputError("a case needs a grid before it is dispatched")
    _assign(
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
    return record(
        db_session=db_session,
        case=case,
        action=Action.dispatch,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"deadline_at": case.deadline_at.isoformat() if case.deadline_at else None},
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
    case.handled_at = at
    return record(
        db_session=db_session,
        case=case,
        action=Action.feedback,
        actor=actor,
        at=at,
        reason=text,
        evidence={"media": list(blobs or [])},
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
) -> CaseTransition:
    """Move the case one level up (community -> street -> district) with a fresh deadline."""
    check(case, Action.escalate)
    upper = service.next_level(case.level)
    if upper is None:
        raise InvalidInputError(f"case {case.id} is already at district level")
    from_level, from_unit = case.level, case.unit_id
    _assign(
        db_session=db_session, case=case, level=upper, unit_id=unit_id, start=at, settings=settings
    )
    case.escalation_count += 1
    return record(
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


def check_evidence(
    *,
    case: Case,
    settings: Settings,
    taken_at: datetime,
    loc: dict[str, Any] | None,
    blobs: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The closing gate: a photo, taken near the case location, within the verify window."""
    photos = [b for b in blobs or [] if str(b.get("mime", "")).startswith("image/")]
    if not photos:
        raise EvidenceError("closing needs an on-site photo")
    facts: dict[str, Any] = {"photos": [p.get("sha256") for p in photos]}
    if case.lat_e6 is not None and case.lon_e6 is not None:
        lat, lon = (loc or {}).get("lat_e6"), (loc or {}).get("lon_e6")
        if not isinstance(lat, int) or not isinstance(lon, int):
            raise EvidenceError("closing needs the verifier's location")
        distance = haversine_m(case.lat_e6, case.lon_e6, lat, lon)
        facts["distance_m"] = round(distance, 1)
        if distance > settings.verify_distance_m:
            raise EvidenceError(
                f"verification taken {distance:.0f} m from the case location "
                f"(limit {settings.verify_distance_m:.0f} m)",
                distance_m=round(distance, 1),
            )
    if case.verify_requested_at is not None:
        lag = (taken_at - case.verify_requested_at).total_seconds()
        facts["seconds_after_request"] = int(lag)
        if lag > settings.verify_window_s or lag < -300:
            raise EvidenceError(
                f"verification taken {int(lag)} s after the request "
                f"(window {settings.verify_window_s} s)"
            )
    return facts


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
    facts = check_evidence(case=case, settings=settings, taken_at=taken_at, loc=loc, blobs=blobs)
    case.closed_at = at
    done = case.handled_at or at
    case.closed_on_time = case.deadline_at is None or done <= case.deadline_at
    return record(
        db_session=db_session,
        case=case,
        action=Action.close,
        actor=actor,
        at=at,
        reason=text,
        evidence={"loc": loc, "media": list(blobs or []), **facts},
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
) -> CaseTransition:
    """Send the case back to handling (``reject`` after a failed verification, or ``reopen``)."""
    check(case, action)
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
) -> CaseTransition:
    check(case, Action.rate)
    if not 1 <= score <= 5:
        raise InvalidInputError("satisfaction is rated 1 to 5")
    case.satisfaction = score
    return record(
        db_session=db_session,
        case=case,
        action=Action.rate,
        actor=actor,
        at=at,
        reason=comment,
        evidence={"satisfaction": score},
    )


def supervise(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    level: SupervisionLevel | str,
    reason: str | None = None,
) -> CaseTransition:
    check(case, Action.supervise)
    try:
        kind = SupervisionLevel(level)
    except ValueError as exc:
        raise InvalidInputError(
            f"supervision level must be one of {[s.value for s in SupervisionLevel]}"
        ) from exc
    case.supervised = True
    case.supervision_level = kind.value
    return record(
        db_session=db_session,
        case=case,
        action=Action.supervise,
        actor=actor,
        at=at,
        reason=reason,
        evidence={"supervision_level": kind.value},
    )
