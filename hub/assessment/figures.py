"""Per-worker figures for any period: online time, reports and valid reports, visits,
collections, verifications (on time or not), inspection verdicts and residents' ratings.

Every figure is counted inside the reader's area (``scope_code``: a code prefix; None:
everywhere), in ``[start, end)``. Definitions (docs/assessment.md):

- online time: ``hub.stats.service._online_seconds`` (the one home of that figure);
- reports: cases of source ``report`` naming the worker, by ``reported_at``; valid reports:
  those not voided as ``invalid`` or ``duplicate`` (nor linked to an earlier case), nor
  flagged (the worker was not signed in on the device that sent it: ``hub.workers``);
- visits / collections: accepted device events of kind ``visit`` / ``collect`` by capture
  time, counted for the ``worker`` their body names, in the area of the device's grid, unless
  flagged or refused as base data (a ``bd_refusals`` row: a form the hub could not use);
- verifications: the worker's on-site answers (``close`` / ``reject`` transitions by
  ``worker:<id>``), on time when within ``assessment_verify_on_time_hours`` of the latest
  ``request_verification`` of that case before it;
- inspection verdicts by ``reviewed_at``; satisfaction: the mean rating of the worker's
  reports of the period that were rated.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy import case as when
from sqlalchemy.orm import Session, aliased

from hub.areas.models import Worker, WorkerGrid
from hub.assessment.models import Inspection
from hub.assessment.schemas import WorkerFigures
from hub.basedata.models import Refusal
from hub.cases.models import Case, CaseStatus, CaseTransition, VoidReason
from hub.events.models import Event
from hub.settings import Settings
from hub.stats.service import _online_seconds
from hub.workers.models import WorkerCheck

VISIT, COLLECT = "visit", "collect"
VERIFY_ACTIONS = ("close", "reject")


FLAGGED = ("not_signed_in", "not_on_grid")


def _in(column: Any, scope_code: str | None) -> ColumnElement[bool]:
    if scope_code is None:
        return true()
    result: ColumnElement[bool] = column.startswith(scope_code, autoescape=True)
    return result


def _flagged(device: Any, seq: Any) -> ColumnElement[bool]:
    """The event at (device, seq) names a worker who was not signed in on that device, or who
    is not the grid's (``hub.workers.sessions``)."""
    return (
        select(WorkerCheck.event_id)
        .where(
            WorkerCheck.device_id == device,
            WorkerCheck.seq == seq,
            WorkerCheck.status.in_(FLAGGED),
        )
        .exists()
    )


def not_valid() -> ColumnElement[bool]:
    """A report voided as invalid or duplicate (or linked to an earlier case), or flagged: it
    names the worker, but the worker was not signed in on the device that sent it."""
    voided = (Case.status == CaseStatus.voided.value) & Case.void_reason.in_(
        (VoidReason.invalid.value, VoidReason.duplicate.value)
    )
    return or_(voided, Case.duplicate_of_id.is_not(None), _flagged(Case.device_id, Case.event_seq))


def workers_in(db_session: Session, scope_code: str | None) -> dict[str, Worker]:
    """The workers serving a grid inside the area (every worker for None)."""
    query = select(Worker).order_by(Worker.id)
    if scope_code is not None:
        inside = select(WorkerGrid.worker_id).where(_in(WorkerGrid.grid_code, scope_code))
        query = query.where(Worker.id.in_(inside))
    return {w.id: w for w in db_session.scalars(query)}


def worker_figures(
    *,
    db_session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    scope_code: str | None,
) -> dict[str, WorkerFigures]:
    """The figures of every worker serving a grid in the area (inactive ones only when they
    did something), by worker id in id order."""
    workers = workers_in(db_session, scope_code)
    rows: dict[str, WorkerFigures] = {}

    def row(worker_id: str) -> WorkerFigures | None:
        if worker_id not in rows:
            worker = workers.get(worker_id)
            if worker is None:
                return None  # not a worker of this area (or an id the hub does not know)
            rows[worker_id] = WorkerFigures(worker_id=worker.id, name=worker.name)
        return rows[worker_id]

    for worker in workers.values():
        if worker.active:
            row(worker.id)

    for worker_id, seconds in _online_seconds(db_session, start, end, scope_code).items():
        if seconds and (r := row(worker_id)) is not None:
            r.online_s = int(seconds)

    reports = db_session.execute(
        select(
            Case.reporter_worker_id,
            func.count(),
            func.count(when((not_valid(), 1))),
            func.count(Case.satisfaction),
            func.coalesce(func.sum(Case.satisfaction), 0),
        )
        .where(
            Case.source == "report",
            Case.reporter_worker_id.is_not(None),
            Case.reported_at >= start,
            Case.reported_at < end,
            _in(Case.grid_code, scope_code),
        )
        .group_by(Case.reporter_worker_id)
    )
    for reporter, total, invalid, rated, sat_sum in reports:
        if reporter is not None and (r := row(reporter)) is not None:
            r.reports, r.valid_reports = int(total), int(total) - int(invalid)
            r.rated = int(rated)
            r.satisfaction = round(float(sat_sum or 0) / r.rated, 2) if r.rated else None

    worker_of = Event.body["worker"].as_string()
    events = db_session.execute(
        select(Event.kind, worker_of, func.count())
        .where(
            Event.kind.in_((VISIT, COLLECT)),
            ~_flagged(Event.device_id, Event.seq),  # a visit by someone not signed in
            ~select(Refusal.id).where(Refusal.event_id == Event.id).exists(),  # nor refused
            Event.ts >= int(start.timestamp()),
            Event.ts < int(end.timestamp()),
            _in(Event.grid_code, scope_code),
        )
        .group_by(Event.kind, worker_of)
    )
    for kind, named, count in events:
        if isinstance(named, str) and (r := row(named)) is not None:
            if kind == VISIT:
                r.visits = int(count)
            else:
                r.collections = int(count)

    _verifications(db_session, settings, start, end, scope_code, row)

    verdicts = db_session.execute(
        select(Inspection.worker_id, Inspection.verdict, func.count())
        .where(
            Inspection.reviewed_at >= start,
            Inspection.reviewed_at < end,
            _in(Inspection.grid_code, scope_code),
        )
        .group_by(Inspection.worker_id, Inspection.verdict)
    )
    for worker_id, verdict, count in verdicts:
        if (r := row(worker_id)) is not None:
            if verdict == "qualified":
                r.qualified = int(count)
            else:
                r.unqualified = int(count)
    return dict(sorted(rows.items()))


def _verifications(
    db_session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    scope_code: str | None,
    row: Any,
) -> None:
    request = aliased(CaseTransition)
    asked_at = (
        select(func.max(request.at))
        .where(
            request.case_id == CaseTransition.case_id,
            request.action == "request_verification",
            request.at < CaseTransition.at,
        )
        .scalar_subquery()
    )
    query = (
        select(CaseTransition.actor, CaseTransition.at, asked_at)
        .join(Case, Case.id == CaseTransition.case_id)
        .where(
            and_(
                CaseTransition.action.in_(VERIFY_ACTIONS),
                CaseTransition.actor.startswith("worker:", autoescape=True),
                CaseTransition.at >= start,
                CaseTransition.at < end,
                _in(Case.grid_code, scope_code),
            )
        )
    )
    allowed = timedelta(hours=settings.assessment_verify_on_time_hours)
    for actor, at, asked in db_session.execute(query):
        r = row(actor.removeprefix("worker:"))
        if r is None:
            continue
        r.verifications += 1
        if asked is not None and at - asked <= allowed:
            r.verifications_on_time += 1
