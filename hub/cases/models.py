"""Cases, their append-only transition log, and the category catalogue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime


class CaseStatus(StrEnum):
    pending_acceptance = "pending_acceptance"  # 1 collect: intake, waiting to be filed
    filed = "filed"  # 2 file: accepted as a case
    dispatched = "dispatched"  # 3 dispatch: assigned to a unit with a deadline
    handling = "handling"  # 4 handle: the unit accepted and works on it
    feedback = "feedback"  # 5 feedback: the unit reported its result
    verifying = "verifying"  # 6a verification requested from the grid's handheld
    closed = "closed"  # 6b verified on site and closed
    evaluated = "evaluated"  # 7 satisfaction rated
    voided = "voided"  # rejected: invalid / duplicate / out of scope
    parked = "parked"  # accepted but cannot be solved now; has a review date


OPEN_STATUSES = frozenset(
    {
        CaseStatus.pending_acceptance,
        CaseStatus.filed,
        CaseStatus.dispatched,
        CaseStatus.handling,
        CaseStatus.feedback,
        CaseStatus.verifying,
        CaseStatus.parked,
    }
)
# Statuses in which the responsible unit's deadline runs.
DEADLINE_STATUSES = frozenset({CaseStatus.dispatched, CaseStatus.handling})


class VoidReason(StrEnum):
    invalid = "invalid"
    duplicate = "duplicate"
    out_of_scope = "out_of_scope"


class SupervisionLevel(StrEnum):
    reminder = "reminder"
    rectification = "rectification"
    public_notice = "public_notice"
    summons = "summons"
    listed = "listed"


class Category(Base):
    """Case category with its deadline in working hours."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    deadline_hours: Mapped[int] = mapped_column(Integer, default=16)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("device_id", "event_seq"),
        # the queue: counts per status and the running deadlines in order (hub/cases/queries.py)
        Index("ix_cases_queue", "status", "deadline_at", "grid_code"),
        # the dashboard's figures of a period from the index alone (migration 0012)
        Index(
            "ix_cases_figures",
            "reported_at",
            "grid_code",
            "status",
            "level",
            "unit_id",
            "deadline_at",
            "closed_at",
            "closed_on_time",
            "rework_count",
            "escalation_count",
            "duplicate_of_id",
            "satisfaction",
            "reporter_worker_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default="report")  # report|operator|...
    status: Mapped[str] = mapped_column(String(32), index=True)
    category_code: Mapped[str | None] = mapped_column(
        ForeignKey("categories.code"), index=True, default=None
    )
    text: Mapped[str] = mapped_column(Text, default="")
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grids.code"), index=True, default=None
    )
    level: Mapped[str] = mapped_column(String(16), default="community", index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True, default=None)
    lat_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    lon_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    acc_m: Mapped[int | None] = mapped_column(Integer, default=None)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    reporter_worker_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    event_seq: Mapped[int | None] = mapped_column(Integer, default=None)
    historical: Mapped[bool] = mapped_column(Boolean, default=False)
    # 一键上报: the grid worker's urgent report; the unit's liaison is told at once
    one_key: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the gate alarm (access-log row) a case of source "alarm" was opened for
    access_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("access_log.id"), unique=True, default=None
    )

    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # Deadline of the current dispatch (working time from deadline_start_at).
    deadline_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, default=None)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean, default=None)

    void_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id"), index=True, default=None
    )
    park_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    supervision_level: Mapped[str | None] = mapped_column(String(32), default=None)
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)

    verify_task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    verify_device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    verify_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    satisfaction: Mapped[int | None] = mapped_column(Integer, default=None)

    transitions: Mapped[list[CaseTransition]] = relationship(
        back_populates="case", order_by="CaseTransition.id", cascade="save-update, merge"
    )


class CaseTransition(Base):
    """Append-only audit record: who did what to a case, when, from which state, why, evidence."""

    __tablename__ = "case_transitions"
    # the grid workers' verifications of a month (migration 0012)
    __table_args__ = (Index("ix_case_transitions_action_at", "action", "at", "actor", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32), default=None)
    to_status: Mapped[str] = mapped_column(String(32))
    level: Mapped[str | None] = mapped_column(String(16), default=None)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="transitions")


class PendingVerification(Base):
    """A worker's signed ``confirm`` whose photos are not all received and hash-checked yet.

    The evidence gate runs when the last blob it names completes (``resolved_at`` is set then,
    with the ``outcome``); until then the case stays in ``verifying`` and the row says what it
    waits for. Nothing is decided on bytes the hub does not hold.
    """

    __tablename__ = "pending_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), unique=True, default=None)
    task_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(120))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loc: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    blobs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # closed|refused|stale


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(CaseTransition, "before_update")
@event.listens_for(CaseTransition, "before_delete")
def _refuse_change(_mapper: object, _connection: object, target: CaseTransition) -> None:
    raise AppendOnlyError(f"case transition {target.id} is append-only")


class CallbackOutcome(StrEnum):
    """What the call back to a hotline caller found (回访)."""

    confirmed = "confirmed"  # the caller confirms the problem is solved
    not_fixed = "not_fixed"  # the caller says it is not: the case goes back to handling
    unreachable = "unreachable"  # the caller could not be reached after trying


class VisitOutcome(StrEnum):
    """What a return visit (回访) to the resident after closing found."""

    satisfied = "satisfied"
    unsatisfied = "unsatisfied"  # recorded; an operator may reopen, a complaint reopens
    unreachable = "unreachable"


class HotlineTicket(Base):
    """A work order from the city hotline (市长热线) or another channel of the one network: the
    caller, the callback asked for and done, the hotline system's own ticket id (idempotent
    import). One a case; the case itself is an ordinary case of source ``hotline``."""

    __tablename__ = "hotline_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    ticket_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    caller_name: Mapped[str | None] = mapped_column(String(64), default=None)
    caller_phone: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    callback_required: Mapped[bool] = mapped_column(Boolean, default=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    callback_by: Mapped[str | None] = mapped_column(String(128), default=None)
    callback_outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    callback_note: Mapped[str | None] = mapped_column(Text, default=None)


class PartStatus(StrEnum):
    """A co-handling unit's part of a multi-department case (多部门协同)."""

    assigned = "assigned"  # asked to co-handle; its feedback is awaited
    done = "done"  # gave its feedback
    released = "released"  # let go by an operator (reason recorded); no longer sees the case


class CaseUnit(Base):
    """A co-handling unit (协办单位) of a case. The lead unit (主办单位) is ``Case.unit_id``;
    the case moves on to verification when the lead gives its feedback, which it may once
    every co-handler's part is done or released."""

    __tablename__ = "case_units"
    __table_args__ = (UniqueConstraint("case_id", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PartStatus.assigned.value)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str] = mapped_column(String(120))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    done_by: Mapped[str | None] = mapped_column(String(120), default=None)
    feedback: Mapped[str | None] = mapped_column(Text, default=None)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    released_reason: Mapped[str | None] = mapped_column(Text, default=None)


class SupervisionStatus(StrEnum):
    open = "open"  # waiting for the unit: its response (or its result) before the deadline
    met = "met"  # answered in time (the unit responded, or the case moved on)
    escalated = "escalated"  # the deadline passed unmet: the next kind was issued
    withdrawn = "withdrawn"  # an operator withdrew it (issued by mistake)
    case_closed = "case_closed"  # the case closed while it was open


class Supervision(Base):
    """One supervision notice (督办) about a case, to the unit that holds it: who issued which
    kind, the deadline the unit has, its response, and how it ended. Rules climb from one kind
    to the next when a deadline passes unmet (``hub.cases.supervisions``)."""

    __tablename__ = "supervisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # SupervisionLevel
    target_unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id"), index=True, default=None
    )
    issued_by: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, default=None)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")
    response: Mapped[str | None] = mapped_column(Text, default=None)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    responded_by: Mapped[str | None] = mapped_column(String(120), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome_note: Mapped[str | None] = mapped_column(Text, default=None)
    # the notice this one escalated from (the ladder's previous step)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("supervisions.id"), default=None)


class TaskStatus(StrEnum):
    sent = "sent"  # queued as a signed ``task`` command for the grid's handheld
    delivered = "delivered"  # the handheld acked it (shown to the worker)
    accepted = "accepted"  # the worker took it on
    done = "done"  # the worker answered: the answer is linked to the task's case
    cancelled = "cancelled"  # the centre withdrew it


class FieldTask(Base):
    """A task the centre sends a grid's handheld (下发任务): text, location, reference images
    (fetched by the handheld over the firmware channel, checked by SHA-256), a deadline; the
    worker's answer (text, location, photos) is linked to the task's case."""

    __tablename__ = "field_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(32), unique=True)  # "ft-<id>", on the wire
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.code"), index=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    command_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    lat_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    lon_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True, default=TaskStatus.sent.value)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    accepted_by: Mapped[str | None] = mapped_column(String(120), default=None)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    done_by: Mapped[str | None] = mapped_column(String(120), default=None)
    seen_images: Mapped[list[str]] = mapped_column(JSON, default=list)  # verified on the device
    answer_text: Mapped[str | None] = mapped_column(Text, default=None)
    answer_loc: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    answer_media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Broadcast(Base):
    """A notice broadcast to every active handheld of an area (通知下发): one ``notice``
    command per handheld, each with its own delivery."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(String(14), index=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    commands: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)  # device, command
