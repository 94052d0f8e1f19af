"""Online inspection (网上巡查): street and district reviewers judge grid workers' reports.

A reviewer is an operator (or admin) whose scope is a street or a district (a township or a
county: the same code lengths); it reviews the reports (cases of source ``report``) of grids
inside its area, one verdict per reviewer per report: ``qualified``, or ``unqualified`` with
a reason. The verdicts count in the worker's conduct (``hub.assessment.scoring``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.assessment.models import Inspection, Verdict
from hub.assessment.schemas import InspectionIn, ReportToReview
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.cases.models import Case
from hub.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError

REVIEW_LEVELS = {9: "street", 6: "district"}
TEXT_CHARS = 500  # what the queue shows of a report's text


def reviewer_level(principal: Principal) -> str:
    """``street`` or ``district``; anyone else is refused."""
    require_roles(principal, Role.admin, Role.operator)
    scope = principal.scope_code
    if scope is None or len(scope) not in REVIEW_LEVELS:
        raise PermissionDeniedError(
            "online inspection is done by street and district reviewers: an operator or "
            "admin scoped to a street or a district"
        )
    return REVIEW_LEVELS[len(scope)]


def _report(db_session: Session, principal: Principal, case_id: int) -> Case:
    case = db_session.get(Case, case_id)
    if case is None or not principal.covers(case.grid_code):
        raise NotFoundError(f"case {case_id} not found", field="case_id")
    if case.source != "report" or case.reporter_worker_id is None:
        raise InvalidInputError(
            f"case {case_id} is not a grid worker's report (source {case.source})",
            field="case_id",
        )
    return case


def review(
    *, db_session: Session, principal: Principal, data: InspectionIn, at: datetime
) -> Inspection:
    """Store the reviewer's verdict. Flushes only."""
    level = reviewer_level(principal)
    reason = (data.reason or "").strip() or None
    if data.verdict == Verdict.unqualified and reason is None:
        raise InvalidInputError("an unqualified verdict needs a reason", field="reason")
    case = _report(db_session, principal, data.case_id)
    assert case.reporter_worker_id is not None and principal.scope_code is not None
    earlier = _existing(db_session, case.id, principal.name)
    if earlier is not None:
        raise ConflictError(
            f"{principal.name} has already reviewed case {case.id} (inspection {earlier.id})",
            inspection_id=earlier.id,
        )
    row = Inspection(case_id=case.id, worker_id=case.reporter_worker_id,
                     grid_code=case.grid_code, reviewer=principal.name, reviewer_level=level,
                     reviewer_scope=principal.scope_code, verdict=data.verdict, reason=reason,
                     reviewed_at=at)  # fmt: skip
    try:
        with db_session.begin_nested():  # a savepoint: the same verdict sent twice at once
            db_session.add(row)
    except IntegrityError:
        earlier = _existing(db_session, case.id, principal.name)
        raise ConflictError(
            f"{principal.name} has already reviewed case {case.id}",
            inspection_id=earlier.id if earlier else None,
        ) from None
    return row


def _existing(db_session: Session, case_id: int, reviewer: str) -> Inspection | None:
    return db_session.scalar(
        select(Inspection).where(Inspection.case_id == case_id, Inspection.reviewer == reviewer)
    )


def _scoped(principal: Principal) -> ColumnElement[bool]:
    if principal.scope_code is None:
        return true()
    result: ColumnElement[bool] = Inspection.grid_code.startswith(
        principal.scope_code, autoescape=True
    )
    return result


def inspections(
    *,
    db_session: Session,
    principal: Principal,
    case_id: int | None = None,
    worker_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[Inspection]:
    """The verdicts on reports inside the reader's area, newest first."""
    require_roles(principal, Role.admin, Role.operator)
    query = select(Inspection).where(_scoped(principal))
    if case_id is not None:
        query = query.where(Inspection.case_id == case_id)
    if worker_id is not None:
        query = query.where(Inspection.worker_id == worker_id)
    if since is not None:
        query = query.where(Inspection.reviewed_at >= since)
    if until is not None:
        query = query.where(Inspection.reviewed_at < until)
    query = query.order_by(Inspection.reviewed_at.desc(), Inspection.id.desc())
    return list(db_session.scalars(query.offset(offset).limit(limit)))


def queue(
    *,
    db_session: Session,
    principal: Principal,
    since: datetime,
    until: datetime,
    offset: int = 0,
    limit: int = 100,
) -> list[ReportToReview]:
    """The reports of ``[since, until)`` inside the reviewer's area it has not judged yet,
    oldest first."""
    reviewer_level(principal)
    assert principal.scope_code is not None
    judged = select(Inspection.case_id).where(Inspection.reviewer == principal.name)
    query = (
        select(Case)
        .where(
            Case.source == "report",
            Case.reporter_worker_id.is_not(None),
            Case.grid_code.startswith(principal.scope_code, autoescape=True),
            Case.reported_at >= since,
            Case.reported_at < until,
            Case.id.not_in(judged),
        )
        .order_by(Case.reported_at, Case.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        ReportToReview(
            case_id=c.id,
            grid_code=c.grid_code,
            worker_id=c.reporter_worker_id or "",
            category_code=c.category_code,
            status=c.status,
            void_reason=c.void_reason,
            reported_at=c.reported_at,
            text=c.text[:TEXT_CHARS],
        )  # fmt: skip
        for c in db_session.scalars(query)
    ]
