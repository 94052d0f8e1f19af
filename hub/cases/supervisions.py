"""Supervision notices (督办) as records: issuing one to the unit that holds a case, the unit's
response, withdrawal, and how each ends. The supervision pass (``flows.supervision``) climbs
the ladder (``settings.supervision_ladder``) when a notice's deadline passes unmet.

A notice is *met* when the unit did what it asks before its deadline: for a reminder, a public
notice or a summons, a response; for a rectification notice or listed supervision, the result
itself (the unit's feedback on the case, ``Case.handled_at``). Flushes only."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.calendar import calendar_from_settings
from hub.cases.models import (
    OPEN_STATUSES,
    Case,
    Supervision,
    SupervisionLevel,
    SupervisionStatus,
)
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.settings import Settings

ORDER = [k.value for k in SupervisionLevel]  # lightest first
# the kinds a response meets; the others need the unit's result on the case
ANSWERED_BY_RESPONSE = frozenset({SupervisionLevel.reminder, SupervisionLevel.public_notice,
                                  SupervisionLevel.summons})  # fmt: skip


def response_deadline(*, kind: str, start: datetime, settings: Settings) -> datetime:
    hours = dict(settings.supervision_response_hours).get(kind, 8)  # type: ignore[call-overload]
    return calendar_from_settings(settings).add_working_time(start, timedelta(hours=hours))


def next_kind(kind: str, settings: Settings) -> str | None:
    """The ladder's next kind above ``kind`` (None at the top)."""
    rank = ORDER.index(kind)
    return next((k for k in settings.supervision_ladder if ORDER.index(k) > rank), None)


def issue(
    *,
    db_session: Session,
    case: Case,
    kind: SupervisionLevel,
    actor: str,
    at: datetime,
    settings: Settings,
    reason: str | None = None,
    deadline_at: datetime | None = None,
    automatic: bool = False,
    previous: Supervision | None = None,
) -> Supervision:
    """A new notice of ``kind`` to the case's unit, due by ``deadline_at`` (default: the kind's
    working hours from ``at``). The case is marked supervised at this kind."""
    if deadline_at is not None and deadline_at <= at:
        raise InvalidInputError("a supervision deadline must be in the future")
    row = Supervision(
        case_id=case.id,
        kind=kind.value,
        target_unit_id=case.unit_id,
        issued_by=actor,
        issued_at=at,
        automatic=automatic,
        reason=reason,
        deadline_at=deadline_at or response_deadline(kind=kind.value, start=at, settings=settings),
        status=SupervisionStatus.open.value,
        previous_id=previous.id if previous is not None else None,
    )
    db_session.add(row)
    db_session.flush()
    case.supervised = True
    case.supervision_level = heaviest_open(db_session=db_session, case_id=case.id)
    return row


def heaviest_open(*, db_session: Session, case_id: int) -> str | None:
    """The heaviest kind among the case's open notices (None: none open)."""
    kinds = [n.kind for n in open_supervisions(db_session=db_session, case_id=case_id)]
    return max(kinds, key=ORDER.index) if kinds else None


def get_supervision(*, db_session: Session, supervision_id: int) -> Supervision:
    row = db_session.get(Supervision, supervision_id)
    if row is None:
        raise NotFoundError(f"supervision {supervision_id} not found")
    return row


def _require_open(row: Supervision) -> None:
    if row.status != SupervisionStatus.open:
        raise ConflictError(f"supervision {row.id} is {row.status}, no longer open")


def respond(*, db_session: Session, row: Supervision, actor: str, at: datetime, text: str) -> None:
    """The unit's response; it meets a reminder, a public notice or a summons in time."""
    _require_open(row)
    row.response, row.responded_at, row.responded_by = text, at, actor
    if SupervisionLevel(row.kind) in ANSWERED_BY_RESPONSE and (
        row.deadline_at is None or at <= row.deadline_at
    ):
        end(row, SupervisionStatus.met, at, "answered in time")
    db_session.flush()


def end(row: Supervision, status: SupervisionStatus, at: datetime, note: str | None) -> None:
    row.status, row.ended_at, row.outcome_note = status.value, at, note


def result_in_time(row: Supervision, case: Case) -> bool:
    return case.handled_at is not None and (
        row.deadline_at is None or case.handled_at <= row.deadline_at
    ) and case.handled_at >= row.issued_at  # fmt: skip


def open_supervisions(*, db_session: Session, case_id: int | None = None) -> list[Supervision]:
    query = select(Supervision).where(Supervision.status == SupervisionStatus.open.value)
    if case_id is not None:
        query = query.where(Supervision.case_id == case_id)
    return list(db_session.scalars(query.order_by(Supervision.id)))


def of_case(*, db_session: Session, case_id: int) -> list[Supervision]:
    return list(
        db_session.scalars(
            select(Supervision).where(Supervision.case_id == case_id).order_by(Supervision.id)
        )
    )


def settle_case(*, db_session: Session, case: Case, at: datetime) -> None:
    """The case left the open statuses (closed, voided...): its open notices end with it, and
    ``supervision_level`` keeps the heaviest kind it reached."""
    if case.status in OPEN_STATUSES:
        return
    for row in open_supervisions(db_session=db_session, case_id=case.id):
        end(row, SupervisionStatus.case_closed, at, f"case {case.status}")
