"""Case queries, routing to responsible units, deadlines, intake and duplicate detection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from hub.areas.models import LEVEL_CODE_LENGTH, LEVEL_ORDER, Grid, Level, Unit, UnitResponsibility
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.cases.calendar import calendar_from_settings
from hub.cases.geo import degrees_e6_for_metres, haversine_m
from hub.cases.models import DEADLINE_STATUSES, OPEN_STATUSES, Case, CaseStatus, Category
from hub.errors import InvalidInputError, NotFoundError
from hub.settings import Settings

DEFAULT_DEADLINE_HOURS = 16
# A new report can only be a duplicate of a case that is still being worked on; a problem that
# comes back after closing is a new case.
LINKABLE_STATUSES = OPEN_STATUSES


# --- categories -------------------------------------------------------------------------------


def get_category(*, db_session: Session, code: str) -> Category | None:
    return db_session.get(Category, code)


def list_categories(*, db_session: Session) -> list[Category]:
    return list(db_session.scalars(select(Category).order_by(Category.code)))


def upsert_category(
    *, db_session: Session, code: str, name: str, deadline_hours: int, active: bool = True
) -> Category:
    if deadline_hours <= 0:
        raise InvalidInputError("deadline_hours must be positive")
    row = db_session.get(Category, code) or Category(code=code)
    row.name, row.deadline_hours, row.active = name, deadline_hours, active
    db_session.add(row)
    db_session.flush()
    return row


# --- levels, routing, deadlines ---------------------------------------------------------------


def area_code_at(grid_code: str, level: Level | str) -> str:
    """The code of the community / street / district that contains ``grid_code``."""
    return grid_code[: LEVEL_CODE_LENGTH[Level(level)]]


def next_level(level: Level | str) -> Level | None:
    index = LEVEL_ORDER.index(Level(level))
    return LEVEL_ORDER[index + 1] if index + 1 < len(LEVEL_ORDER) else None


def route(
    *, db_session: Session, category_code: str | None, grid_code: str, level: Level | str
) -> Unit | None:
    """The unit responsible for ``category_code`` at ``level`` above ``grid_code``.

    A unit named for the category wins (lead first); otherwise the area's catch-all unit.
    """
    area = area_code_at(grid_code, level)
    query = (
        select(Unit)
        .join(UnitResponsibility, UnitResponsibility.unit_id == Unit.id)
        .where(UnitResponsibility.area_code == area)
    )
    if category_code is not None:
        specific = db_session.scalars(
            query.where(UnitResponsibility.category_code == category_code).order_by(
                UnitResponsibility.lead.desc(), Unit.id
            )
        ).first()
        if specific is not None:
            return specific
    return db_session.scalars(
        query.where(UnitResponsibility.category_code.is_(None)).order_by(Unit.id)
    ).first()


def deadline_for(
    *, db_session: Session, category_code: str | None, start: datetime, settings: Settings
) -> datetime:
    category = db_session.get(Category, category_code) if category_code else None
    hours = category.deadline_hours if category is not None else DEFAULT_DEADLINE_HOURS
    return calendar_from_settings(settings).add_working_time(start, timedelta(hours=hours))


def warning_due_at(case: Case, settings: Settings) -> datetime | None:
    if case.deadline_at is None or case.deadline_start_at is None:
        return None
    span = case.deadline_at - case.deadline_start_at
    return case.deadline_start_at + span * settings.warn_before_deadline_ratio


def is_overdue(case: Case, now: datetime) -> bool:
    return (
        case.status in DEADLINE_STATUSES and case.deadline_at is not None and now > case.deadline_at
    )


# --- intake -----------------------------------------------------------------------------------


def new_case(
    *,
    db_session: Session,
    source: str,
    category_code: str | None,
    text: str,
    grid_code: str | None,
    reported_at: datetime,
    now: datetime,
    loc: dict[str, Any] | None = None,
    media: list[dict[str, Any]] | None = None,
    reporter_worker_id: str | None = None,
    device_id: str | None = None,
    event_seq: int | None = None,
    historical: bool = False,
) -> Case:
    """Create the case row (status is set by the ``collect`` transition)."""
    if category_code is not None and db_session.get(Category, category_code) is None:
        category_code = None  # unknown category: an operator classifies it when filing
    if grid_code is not None and db_session.get(Grid, grid_code) is None:
        grid_code = None
    loc = loc or {}
    case = Case(
        source=source,
        category_code=category_code,
        text=text,
        grid_code=grid_code,
        level=Level.community.value,
        lat_e6=_int_or_none(loc.get("lat_e6")),
        lon_e6=_int_or_none(loc.get("lon_e6")),
        acc_m=_int_or_none(loc.get("acc_m")),
        media=list(media or []),
        reporter_worker_id=reporter_worker_id,
        device_id=device_id,
        event_seq=event_seq,
        historical=historical,
        reported_at=reported_at,
        created_at=now,
        updated_at=now,
    )
    db_session.add(case)
    return case


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def find_duplicate_of(*, db_session: Session, case: Case, settings: Settings) -> Case | None:
    """The earliest open case of the same category within the duplicate distance and time."""
    if case.category_code is None or case.lat_e6 is None or case.lon_e6 is None:
        return None
    window = timedelta(seconds=settings.duplicate_window_s)
    dlat, dlon = degrees_e6_for_metres(settings.duplicate_distance_m, case.lat_e6)
    candidates = db_session.scalars(
        select(Case)
        .where(
            Case.category_code == case.category_code,
            Case.status.in_([s.value for s in LINKABLE_STATUSES]),
            Case.duplicate_of_id.is_(None),
            Case.reported_at >= case.reported_at - window,
            Case.reported_at <= case.reported_at + window,
            Case.lat_e6.between(case.lat_e6 - dlat, case.lat_e6 + dlat),
            Case.lon_e6.between(case.lon_e6 - dlon, case.lon_e6 + dlon),
            Case.id != case.id if case.id is not None else True,
        )
        .order_by(Case.reported_at, Case.id)
    )
    for other in candidates:
        assert other.lat_e6 is not None and other.lon_e6 is not None
        distance = haversine_m(case.lat_e6, case.lon_e6, other.lat_e6, other.lon_e6)
        if distance <= settings.duplicate_distance_m:
            return other
    return None


# --- reading ----------------------------------------------------------------------------------


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


def scope_clause(principal: Principal) -> Any:
    """SQL condition limiting cases to what ``principal`` may see."""
    conditions = []
    if principal.scope_code is not None:
        conditions.append(Case.grid_code.startswith(principal.scope_code, autoescape=True))
    if principal.role == Role.unit:
        conditions.append(Case.unit_id == principal.unit_id)
    return and_(True, *conditions)


def can_see(principal: Principal, case: Case) -> bool:
    if principal.role == Role.unit and case.unit_id != principal.unit_id:
        return False
    return principal.covers(case.grid_code)


def _filtered(query: Select[Any], flt: CaseFilter, now: datetime) -> Select[Any]:
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


def duplicates_of(*, db_session: Session, case_id: int) -> list[Case]:
    return list(
        db_session.scalars(select(Case).where(Case.duplicate_of_id == case_id).order_by(Case.id))
    )


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


def is_open(case: Case) -> bool:
    return CaseStatus(case.status) in OPEN_STATUSES
