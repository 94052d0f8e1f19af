"""Cases API: the queue, overdue listing, detail and intake."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from hub.areas.models import Level
from hub.auth.deps import CurrentUser
from hub.auth.service import require_roles
from hub.bounds import PageOffset, RowId
from hub.cases import actions
from hub.cases import queries as case_queries
from hub.cases.deadlines import warning_due_at
from hub.cases.detail import case_detail, case_read
from hub.cases.duplicates import find_duplicate_of
from hub.cases.endpoints import OPERATORS
from hub.cases.evidence import require_visible
from hub.cases.intake import grid_for, new_case
from hub.cases.models import Case, CaseStatus
from hub.cases.queries import CaseFilter
from hub.cases.schemas import CaseCreate, CaseDetail, CasePage, CaseRead
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import InvalidInputError, PermissionDeniedError
from hub.settings import Settings

router = APIRouter(prefix="/api/cases", tags=["cases"])


Source = Literal["report", "operator", "hotline", "alarm"]
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)]


def local_day_start(day: date, settings: Settings) -> datetime:
    """Midnight of ``day`` on the hub's working calendar (``work_utc_offset_minutes``), in UTC."""
    tz = timezone(timedelta(minutes=settings.work_utc_offset_minutes))
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _row(case: Case, now: datetime, settings: Settings) -> CaseRead:
    read = case_read(case, now)
    due = warning_due_at(case, settings)
    read.near_deadline = (
        case.status in case_queries.RUNNING and not read.overdue and due is not None and now >= due
    )
    return read


@router.get("", response_model=CasePage, summary="The case queue: filtered, sorted, paged")
def list_cases(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
    status: Annotated[list[CaseStatus] | None, Query(max_length=len(CaseStatus))] = None,
    level: Level | None = None,
    unit_id: RowId | None = None,
    grid: Annotated[str | None, Query(pattern=r"^\d{14}$")] = None,
    area: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None,
    category: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
    source: Source | None = None,
    reported_from: Day = None,
    reported_to: Day = None,
    overdue: bool | None = None,
    near_deadline: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = None,
    sort: case_queries.QueueSort = case_queries.QueueSort.urgency,
    page: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    offset: PageOffset | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CasePage:
    """``status`` may repeat (any of them); ``reported_from`` / ``reported_to`` are days on the
    hub's calendar (both included); ``q`` searches the case text, its grid's name, the
    reporter's id and name and the case number, literally (``%`` and ``_`` are characters).
    Give ``page`` (1-based) or ``offset``, not both."""
    if page is not None and offset is not None:
        raise InvalidInputError("give page or offset, not both")
    if reported_from and reported_to and reported_from > reported_to:
        raise InvalidInputError(f"reported_from {reported_from} is after reported_to {reported_to}")
    start = offset if offset is not None else ((page or 1) - 1) * limit
    flt = CaseFilter(
        statuses=tuple(sorted({s.value for s in status or ()})),
        level=level.value if level else None,
        unit_id=unit_id,
        grid_code=grid,
        area_code=area,
        category_code=category,
        source=source,
        reported_from=local_day_start(reported_from, settings) if reported_from else None,
        reported_before=(
            local_day_start(reported_to + timedelta(days=1), settings) if reported_to else None
        ),
        overdue=overdue,
        near_deadline=near_deadline,
        q=(q or "").strip() or None,
    )
    now = clock.now()
    found = case_queries.queue(
        db_session=db_session,
        principal=user,
        flt=flt,
        now=now,
        warn_ratio=settings.warn_before_deadline_ratio,
        sort=sort,
        offset=start,
        limit=limit,
    )
    return CasePage(
        items=[_row(c, now, settings) for c in found.rows],
        total=found.total,
        offset=start,
        limit=limit,
        page=start // limit + 1,
        pages=max(1, -(-found.total // limit)),
        sort=sort.value,
        counts=found.counts,
    )


@router.get("/overdue", response_model=list[CaseRead], summary="Overdue cases (supervision)")
def list_overdue(
    db_session: SessionDep, user: CurrentUser, clock: ClockDep, settings: SettingsDep
) -> list[CaseRead]:
    now = clock.now()
    found = case_queries.queue(
        db_session=db_session,
        principal=user,
        flt=CaseFilter(overdue=True),
        now=now,
        warn_ratio=settings.warn_before_deadline_ratio,
        sort=case_queries.QueueSort.deadline,
        limit=500,
    )
    return [_row(c, now, settings) for c in found.rows]


@router.post("", response_model=CaseDetail, status_code=201, summary="Enter an intake item")
def create_case(
    body: CaseCreate,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    """Collect the item; an item of an open case's category near it (the duplicate rule of
    ``hub.cases.duplicates``) is voided as ``duplicate`` and linked there (``duplicate_of_id``)."""
    require_roles(user, *OPERATORS)
    loc = body.loc.model_dump() if body.loc else None
    grid_code = grid_for(db_session=db_session, grid_code=body.grid_code, loc=loc)
    if not user.covers(grid_code):
        raise PermissionDeniedError(f"grid {grid_code} is outside your area")
    now = clock.now()
    media = [m.model_dump() for m in body.media]
    require_visible(db_session=db_session, principal=user, blobs=media)
    case = new_case(
        db_session=db_session,
        source=body.source,
        category_code=body.category_code,
        text=body.text,
        grid_code=grid_code,
        reported_at=now,
        now=now,
        settings=settings,
        loc=loc,
        media=media,
    )
    actions.collect(db_session=db_session, case=case, actor=user.actor, at=now)
    first = find_duplicate_of(db_session=db_session, case=case, settings=settings)
    if first is not None:  # the same problem is open already: linked to it, as a report is
        actions.void_duplicate(db_session=db_session, case=case, first=first, actor=user.actor,
                               at=now, note=" (operator intake)")  # fmt: skip
    db_session.commit()
    return case_detail(
        db_session=db_session, case=case, now=clock.now(), principal=user, settings=settings
    )


@router.get("/{case_id}", response_model=CaseDetail, summary="A case with timeline and media")
def get_case(
    case_id: RowId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    case = case_queries.get_case(db_session=db_session, case_id=case_id, principal=user)
    return case_detail(
        db_session=db_session, case=case, now=clock.now(), principal=user, settings=settings
    )
