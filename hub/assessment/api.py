"""Assessment: per-worker figures and scores of a period, the stored weekly statistics, the
monthly ranking per street and district, star ratings, and online inspection (网上巡查).

Readers are admins and operators, each inside its area (a unit reads none of it); verdicts
are given by street and district reviewers (``hub.assessment.inspection``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from hub.assessment import inspection, periods, ranking, stars, weekly
from hub.assessment.periods import PERIOD_PATTERN, WEEK_PATTERN, parse
from hub.assessment.schemas import InspectionIn, InspectionOut, ReportToReview
from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.bounds import INT32_MAX, Instant, PageOffset
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import InvalidInputError, PermissionDeniedError

router = APIRouter(prefix="/api/assessment", tags=["assessment"])

PeriodQ = Annotated[
    str, Query(pattern=PERIOD_PATTERN, description="a month 2026-01, a quarter 2026-Q1, a year")
]
Month = Annotated[str, Query(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", description="e.g. 2026-01")]
Limit = Annotated[int, Query(ge=1, le=1000)]
WeekP = Annotated[str, Path(pattern=WEEK_PATTERN, description="an ISO week, e.g. 2026-W02")]


def _reader(user: Principal) -> None:
    require_roles(user, Role.admin, Role.operator)  # a unit sees its own cases only


@router.get("/workers", summary="Figures and assessment score per worker for a period")
def worker_assessments(
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: CurrentUser,
    period: PeriodQ | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> list[dict[str, Any]]:
    """A month, quarter or year (local time; neither it nor since / until: the current
    month), or any ``[since, until)``: every worker serving a grid inside the caller's area,
    with what it did there and its score."""
    _reader(user)
    if period is not None and (since is not None or until is not None):
        raise InvalidInputError("give period, or since / until, not both", field="period")
    if period is not None:
        found = parse(period, settings)
    elif since is None and until is None:
        found = periods.month_of(clock.now(), settings)
    else:
        found = periods.between(since, until)
    rows = ranking.assessments(db_session=db_session, settings=settings, period=found,
                               scope_code=user.scope_code)  # fmt: skip
    return [asdict(r) for r in rows]


@router.get("/weeks/{week}", summary="The stored weekly statistics of an ISO week")
def week_rows(
    week: WeekP, db_session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> dict[str, Any]:
    """The rows the weekly job stored (404 until it has): the workers serving a grid inside
    the caller's area, each with its totals of the week."""
    _reader(user)
    found = weekly.read_week(db_session=db_session, settings=settings, label=week,
                             scope_code=user.scope_code)  # fmt: skip
    return asdict(found)


@router.post("/weeks/{week}/compute", summary="Recompute a finished week's statistics")
def recompute_week(
    week: WeekP,
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: CurrentUser,
) -> dict[str, Any]:
    """Admins: replace the week's stored rows (every worker's, as the job does) with fresh
    figures, e.g. after late uploads; 409 for a week not ended yet. The answer shows the
    caller's area only."""
    require_roles(user, Role.admin)
    if user.scope_code is not None:  # it rewrites every area's rows of the week
        raise PermissionDeniedError("recomputing a week is for an admin of the whole hub")
    weekly.store_week(db_session=db_session, settings=settings, period=periods.week(week, settings),
                      at=clock.now(), by=user.actor)  # fmt: skip
    db_session.commit()
    found = weekly.read_week(db_session=db_session, settings=settings, label=week,
                             scope_code=user.scope_code)  # fmt: skip
    return asdict(found)


@router.get("/ranking", summary="The monthly ranking of workers per street and district")
def monthly_ranking(
    month: Month, db_session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> dict[str, Any]:
    """Workers ranked by score within each street and district inside the caller's area."""
    _reader(user)
    found = ranking.ranking(db_session=db_session, settings=settings, month=month,
                            scope_code=user.scope_code)  # fmt: skip
    return asdict(found)


@router.get("/stars", summary="Star ratings of grids and command centres for a period")
def star_ratings(
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, description="2026-01, 2026-Q1, 2026")],
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: CurrentUser,
) -> dict[str, Any]:
    _reader(user)
    found = stars.star_ratings(db_session=db_session, settings=settings, period_label=period,
                               scope_code=user.scope_code, now=clock.now())  # fmt: skip
    return asdict(found)


@router.post(
    "/inspections",
    summary="A street or district reviewer's verdict on a worker's report",
    status_code=status.HTTP_201_CREATED,
    response_model=InspectionOut,
)
def create_inspection(
    data: InspectionIn, db_session: SessionDep, clock: ClockDep, user: CurrentUser
) -> InspectionOut:
    """One verdict per reviewer per report (409 for a second); ``unqualified`` needs a
    ``reason``; a report outside the reviewer's area is 404."""
    row = inspection.review(db_session=db_session, principal=user, data=data, at=clock.now())
    db_session.commit()
    return InspectionOut.model_validate(row)


@router.get("/inspections", summary="Inspection verdicts inside the caller's area",
            response_model=list[InspectionOut])  # fmt: skip
def list_inspections(
    db_session: SessionDep,
    user: CurrentUser,
    case_id: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    worker_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> list[InspectionOut]:
    rows = inspection.inspections(db_session=db_session, principal=user, case_id=case_id,
                                  worker_id=worker_id, since=since, until=until, offset=offset,
                                  limit=limit)  # fmt: skip
    return [InspectionOut.model_validate(r) for r in rows]


@router.get("/inspections/queue", summary="Reports of a period the reviewer has not judged",
            response_model=list[ReportToReview])  # fmt: skip
def inspection_queue(
    db_session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    period: PeriodQ,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> list[ReportToReview]:
    found = parse(period, settings)
    return inspection.queue(db_session=db_session, principal=user, since=found.start,
                            until=found.end, offset=offset, limit=limit)  # fmt: skip
