"""Reading cases: the filtered, scoped list, one case, and the supervision pass's worklists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from hub.auth.service import Principal
from hub.cases.models import DEADLINE_STATUSES, Case, CaseStatus
from hub.cases.scope import can_see, scope_clause
from hub.errors import NotFoundError


@dataclass
class CaseFilter:
    status: str | None = None
    level: str | None = None
    unit_id: int | None = None
    grid_code: str | None = None
    area_code: str | None = None
    category_code: str | None = None
    overdue: bool | None = None
    include_duplicates: bool = True


def _filtered(query: Select[Case], flt: CaseFilter, now: datetime) -> Select[Case]:
    if flt.status:
        query = query.where(Case.status == flt.status)
    if flt.level:
        query = query.where(Case.level == flt.level)
    if flt.unit_id is not None:
        query = query.where(Case.unit_id == flt.unit_id)
    if flt.grid_code:
        query = query.where(Case.grid_code == flt.grid_code)
    if flt.area_code:
        query = query.where(Case.grid_code.startswith(flt.area_code, autoescape=True))
    if flt.category_code:
        query = query.where(Case.category_code == flt.category_code)
    overdue = and_(Case.status.in_([s.value for s in DEADLINE_STATUSES]), Case.deadline_at < now)
    if flt.overdue is True:
        query = query.where(overdue)
    elif flt.overdue is False:
        query = query.where(or_(Case.deadline_at.is_(None), ~overdue))
    if not flt.include_duplicates:
        query = query.where(Case.duplicate_of_id.is_(None))
    return query


def list_cases(
    *,
    db_session: Session,
    principal: Principal,
    flt: CaseFilter,
    now: datetime,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Case], int]:
    """A page of cases visible to ``principal`` (newest first) and the total count."""
    base = _filtered(select(Case).where(scope_clause(principal)), flt, now)
    total = db_session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db_session.scalars(base.order_by(Case.id.desc()).offset(offset).limit(limit))
    return list(rows), total


def get_case(*, db_session: Session, case_id: int, principal: Principal | None = None) -> Case:
    """The case, or ``NotFoundError`` (also when it lies outside the principal's scope)."""
    case = db_session.get(Case, case_id)
    if case is None or (principal is not None and not can_see(principal, case)):
        raise NotFoundError(f"case {case_id} not found")
    return case


def open_cases_with_deadline(*, db_session: Session) -> list[Case]:
    return list(
        db_session.scalars(
            select(Case)
            .where(
                Case.status.in_([s.value for s in DEADLINE_STATUSES]),
                Case.deadline_at.is_not(None),
            )
            .order_by(Case.deadline_at)
        )
    )


def parked_for_review(*, db_session: Session, now: datetime) -> list[Case]:
    """Parked cases whose review date has come and that were not yet flagged for review."""
    return list(
        db_session.scalars(
            select(Case)
            .where(
                Case.status == CaseStatus.parked.value,
                Case.park_review_at <= now,
                Case.warned_at.is_(None),
            )
            .order_by(Case.park_review_at)
        )
    )
