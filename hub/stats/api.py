"""Statistics: per area level, per unit, per grid worker and month."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.auth.deps import CurrentUser
from hub.deps import ClockDep, SessionDep
from hub.errors import NotFoundError
from hub.stats import service

router = APIRouter(prefix="/api/stats", tags=["statistics"])

Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="e.g. 2026-01")]


@router.get("/areas/{code}", summary="Figures for an area (or grid) and its children")
def area_stats(
    code: str,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    if not user.covers(code):
        raise NotFoundError(f"area {code} not found")
    figures = service.area_figures(
        db_session=db_session, code=code, now=clock.now(), since=since, until=until
    )
    return figures.as_dict()


@router.get("/units", summary="Figures per handling unit (rework counted per unit)")
def unit_stats(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    rows = service.unit_figures(
        db_session=db_session,
        now=clock.now(),
        scope_code=user.scope_code,
        since=since,
        until=until,
    )
    return [r.as_dict() for r in rows]


@router.get("/workers", summary="Monthly assessment per grid worker, ranked")
def worker_stats(db_session: SessionDep, user: CurrentUser, month: Month) -> list[dict[str, Any]]:
    rows = service.worker_month(db_session=db_session, month=month, scope_code=user.scope_code)
    return [asdict(r) for r in rows]
