"""Cases API: list, overdue listing, detail and intake."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.areas.models import Level
from hub.auth.deps import CurrentUser
from hub.auth.service import require_roles
from hub.bounds import PageOffset, RowId
from hub.cases import actions
from hub.cases import queries as case_queries
from hub.cases.detail import case_detail, case_read
from hub.cases.endpoints import OPERATORS
from hub.cases.evidence import require_visible
from hub.cases.intake import new_case
from hub.cases.models import CaseStatus
from hub.cases.queries import CaseFilter
from hub.cases.schemas import CaseCreate, CaseDetail, CasePage, CaseRead
from hub.deps import ClockDep, SessionDep
from hub.errors import PermissionDeniedError

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.get("", response_model=CasePage, summary="List cases visible to the caller")
def list_cases(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    status: CaseStatus | None = None,
    level: Level | None = None,
    unit_id: RowId | None = None,
    grid: Annotated[str | None, Query(pattern=r"^\d{14}$")] = None,
    area: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None,
    category: str | None = None,
    overdue: bool | None = None,
    offset: PageOffset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CasePage:
    flt = CaseFilter(
        status=status.value if status else None,
        level=level.value if level else None,
        unit_id=unit_id,
        grid_code=grid,
        area_code=area,
        category_code=category,
        overdue=overdue,
    )
    now = clock.now()
    rows, total = case_queries.list_cases(
        db_session=db_session, principal=user, flt=flt, now=now, offset=offset, limit=limit
    )
    return CasePage(
        items=[case_read(c, now) for c in rows], total=total, offset=offset, limit=limit
    )


@router.get("/overdue", response_model=list[CaseRead], summary="Overdue cases (supervision)")
def list_overdue(db_session: SessionDep, user: CurrentUser, clock: ClockDep) -> list[CaseRead]:
    now = clock.now()
    rows, _ = case_queries.list_cases(
        db_session=db_session, principal=user, flt=CaseFilter(overdue=True), now=now, limit=500
    )
    rows.sort(key=lambda c: (c.deadline_at is None, c.deadline_at))
    return [case_read(c, now) for c in rows]


@router.post("", response_model=CaseDetail, status_code=201, summary="Enter an intake item")
def create_case(
    body: CaseCreate, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    require_roles(user, *OPERATORS)
    if not user.covers(body.grid_code):
        raise PermissionDeniedError(f"grid {body.grid_code} is outside your area")
    now = clock.now()
    media = [m.model_dump() for m in body.media]
    require_visible(db_session=db_session, principal=user, blobs=media)
    case = new_case(
        db_session=db_session,
        source=body.source,
        category_code=body.category_code,
        text=body.text,
        grid_code=body.grid_code,
        reported_at=now,
        now=now,
        loc=body.loc.model_dump() if body.loc else None,
        media=media,
    )
    actions.collect(db_session=db_session, case=case, actor=user.actor, at=now)
    db_session.commit()
    return case_detail(db_session=db_session, case=case, now=clock.now(), principal=user)


@router.get("/{case_id}", response_model=CaseDetail, summary="A case with timeline and media")
def get_case(
    case_id: RowId, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    case = case_queries.get_case(db_session=db_session, case_id=case_id, principal=user)
    return case_detail(db_session=db_session, case=case, now=clock.now(), principal=user)
