"""One-network intake (一网归集) from the hotline: work orders become ordinary cases of source
``hotline`` with their ticket (caller, channel, the hotline system's ticket id, callback).

- ``take_order`` is idempotent on the ticket id: the same order imported twice is the same
  case (the second answer says ``existing``), never a second case, also when two imports of
  it run at once (the ticket id is unique; the loser reads it again, ``reread``).
- Every order gets the duplicate check: the device reports' rule (same category, open, within
  ``duplicate_distance_m`` and ``duplicate_window_s``, same community) when it has a location,
  else the same caller's phone with the same category in the same grid within the window. A
  duplicate is voided as ``duplicate`` and linked to the first case, as a report is.
- ``record_callback``: the call back to the caller (回访) is a recorded step (a ``callback``
  row in the case's timeline). ``actions.close`` applies the gate: a hotline case whose ticket
  asks for a callback closes only after one (``confirmed`` or ``unreachable``); ``not_fixed``
  sends the case back to handling (rework), so a later callback is needed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.areas.models import Grid
from hub.cases import actions
from hub.cases.duplicates import LINKABLE_STATUSES, find_duplicate_of
from hub.cases.intake import new_case
from hub.cases.models import CallbackOutcome, Case, HotlineTicket
from hub.cases.workflow import Action, check, record
from hub.errors import ConflictError
from hub.settings import Settings

SOURCE = "hotline"


@dataclass(frozen=True)
class Order:
    """A hotline work order as the import takes it (validated by the API's schema)."""

    ticket_id: str
    channel: str
    text: str
    grid_code: str
    received_at: datetime
    category_code: str | None = None
    caller_name: str | None = None
    caller_phone: str | None = None
    callback_required: bool = True
    loc: dict[str, Any] | None = None


def ticket_of(*, db_session: Session, case_id: int) -> HotlineTicket | None:
    return db_session.scalar(select(HotlineTicket).where(HotlineTicket.case_id == case_id))


def imported_case(*, db_session: Session, ticket_id: str) -> Case | None:
    """The case of the hotline ticket ``ticket_id`` if it was imported."""
    known = db_session.scalar(select(HotlineTicket).where(HotlineTicket.ticket_id == ticket_id))
    if known is None:
        return None
    case = db_session.get(Case, known.case_id)
    assert case is not None  # the ticket's case is deleted with it (ON DELETE CASCADE)
    return case


def reread(*, db_session: Session, order: Order) -> Case | None:
    """``imported_case`` after a failed ``take_order``, at the start of a fresh transaction. On
    SQLite a no-op UPDATE of the order's grid takes the database's write lock first (waiting
    for the other import to commit), so the tickets read next are not older than its commit and
    a new try writes under that lock; elsewhere each statement reads what is committed."""
    if db_session.get_bind().dialect.name == "sqlite":
        db_session.execute(
            update(Grid)
            .where(Grid.code == order.grid_code)
            .values(name=Grid.name)
            .execution_options(synchronize_session=False)
        )
    return imported_case(db_session=db_session, ticket_id=order.ticket_id)


def take_order(
    *, db_session: Session, order: Order, actor: str, now: datetime, settings: Settings
) -> tuple[Case, bool]:
    """The case of ``order``: (case, True) when created now, (its case, False) when the ticket
    id was imported before. Caller commits; an import of the same ticket committed meanwhile
    makes the insert fail (``IntegrityError`` on the ticket id, or on SQLite an
    ``OperationalError`` on this transaction's first write): the caller asks again in a fresh
    transaction (``reread``)."""
    known = imported_case(db_session=db_session, ticket_id=order.ticket_id)
    if known is not None:
        return known, False
    case = new_case(
        db_session=db_session,
        source=SOURCE,
        category_code=order.category_code,
        text=order.text,
        grid_code=order.grid_code,
        reported_at=order.received_at,
        now=now,
        settings=settings,
        loc=order.loc,
    )
    actions.collect(db_session=db_session, case=case, actor=actor, at=now)
    db_session.add(
        HotlineTicket(
            case_id=case.id,
            ticket_id=order.ticket_id,
            channel=order.channel,
            caller_name=order.caller_name,
            caller_phone=order.caller_phone,
            callback_required=order.callback_required,
            received_at=order.received_at,
            imported_at=now,
        )
    )
    db_session.flush()
    first = find_duplicate_of(db_session=db_session, case=case, settings=settings)
    if first is None and case.lat_e6 is None:
        first = _same_caller(db_session=db_session, case=case, order=order, settings=settings)
    if first is not None:
        actions.void_duplicate(
            db_session=db_session, case=case, first=first, actor=actor, at=now,
            note=f" (hotline ticket {order.ticket_id})",
        )  # fmt: skip
    return case, True


def _same_caller(
    *, db_session: Session, case: Case, order: Order, settings: Settings
) -> Case | None:
    """Without a location: the earliest open case of the same caller, category and grid within
    the duplicate window."""
    if not order.caller_phone or case.category_code is None or case.grid_code is None:
        return None
    window = timedelta(seconds=settings.duplicate_window_s)
    return db_session.scalar(
        select(Case)
        .join(HotlineTicket, HotlineTicket.case_id == Case.id)
        .where(
            HotlineTicket.caller_phone == order.caller_phone,
            Case.id != case.id,
            Case.category_code == case.category_code,
            Case.grid_code == case.grid_code,
            Case.status.in_([s.value for s in LINKABLE_STATUSES]),
            Case.duplicate_of_id.is_(None),
            Case.reported_at >= case.reported_at - window,
            Case.reported_at <= case.reported_at + window,
        )
        .order_by(Case.reported_at, Case.id)
        .limit(1)
    )


def record_callback(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    outcome: CallbackOutcome,
    note: str | None,
) -> None:
    """The call back to the caller, on the ticket and in the timeline; ``not_fixed`` sends the
    case back to handling (rework for the unit)."""
    ticket = ticket_of(db_session=db_session, case_id=case.id)
    if ticket is None:
        raise ConflictError(
            f"case {case.id} has no hotline ticket: there is no caller to call back",
            code="no_hotline_ticket",
        )
    check(case, Action.callback)
    ticket.callback_at = at
    ticket.callback_by = actor
    ticket.callback_outcome = outcome.value
    ticket.callback_note = note
    evidence = {"ticket_id": ticket.ticket_id, "outcome": outcome.value, "channel": ticket.channel}
    reason = f"callback: {outcome.value}" + (f": {note}" if note else "")
    record(
        db_session=db_session,
        case=case,
        action=Action.callback,
        actor=actor,
        at=at,
        reason=reason,
        evidence=evidence,
    )
    if outcome == CallbackOutcome.not_fixed:
        actions.rework(
            db_session=db_session,
            case=case,
            actor=actor,
            at=at,
            reason=f"the caller of hotline ticket {ticket.ticket_id} says it is not fixed",
            action=Action.reopen,
        )
