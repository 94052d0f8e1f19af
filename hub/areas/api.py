"""Areas, grids, workers and units (read scoped to the caller's area). The unit writes that
name categories are in ``hub.cases.api.responsibilities``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from hub.areas import boundaries, service
from hub.areas.models import BoundaryStatus, Grid, GridBoundary
from hub.areas.schemas import (
    AreaCreate,
    AreaRead,
    BoundaryCollection,
    BoundaryDecision,
    BoundaryFeature,
    BoundaryProposal,
    GridCreate,
    GridRead,
    GridUpdate,
    UnitRead,
    WorkerCreate,
    WorkerRead,
    WorkerUpdate,
)
from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.body_limit import limited_route
from hub.bounds import PageOffset, RowId
from hub.deps import ClockDep, SessionDep
from hub.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/api", tags=["areas"])


def _require_in_scope(user: Principal, code: str) -> None:
    require_roles(user, Role.admin, Role.operator)
    if not user.covers(code):
        raise PermissionDeniedError(f"{code} is outside your area")


@router.get("/areas", response_model=list[AreaRead])
def list_areas(db_session: SessionDep, user: CurrentUser) -> list[AreaRead]:
    rows = service.list_areas(db_session=db_session, scope_code=user.scope_code)
    return [AreaRead.model_validate(a) for a in rows]


@router.post("/areas", response_model=AreaRead, status_code=201)
def create_area(body: AreaCreate, db_session: SessionDep, user: AdminUser) -> AreaRead:
    _require_in_scope(user, body.code)
    area = service.create_area(
        db_session=db_session, code=body.code, name=body.name, level=body.level
    )
    db_session.commit()
    return AreaRead.model_validate(area)


@router.get("/grids", response_model=list[GridRead])
def list_grids(db_session: SessionDep, user: CurrentUser) -> list[GridRead]:
    rows = service.list_grids(db_session=db_session, scope_code=user.scope_code)
    return [GridRead.model_validate(g) for g in rows]


@router.get("/grids/{code}", response_model=GridRead)
def get_grid(code: str, db_session: SessionDep, user: CurrentUser) -> GridRead:
    grid = service.get_grid(db_session=db_session, code=code, scope_code=user.scope_code)
    return GridRead.model_validate(grid)


@router.post("/grids", response_model=GridRead, status_code=201)
def create_grid(body: GridCreate, db_session: SessionDep, user: CurrentUser) -> GridRead:
    _require_in_scope(user, body.code)
    grid = service.create_grid(db_session=db_session, **body.model_dump())
    db_session.commit()
    return GridRead.model_validate(grid)


@router.patch("/grids/{code}", response_model=GridRead)
def update_grid(code: str, body: GridUpdate, db_session: SessionDep, user: CurrentUser) -> GridRead:
    _require_in_scope(user, code)
    grid = service.get_grid(db_session=db_session, code=code, scope_code=user.scope_code)
    service.update_grid(db_session=db_session, grid=grid, changes=body)
    db_session.commit()
    return GridRead.model_validate(grid)


@router.get("/workers", response_model=list[WorkerRead])
def list_workers(db_session: SessionDep, user: CurrentUser) -> list[WorkerRead]:
    rows = service.list_workers(db_session=db_session, scope_code=user.scope_code)
    return [WorkerRead.of(w) for w in rows]


@router.get("/workers/{worker_id}", response_model=WorkerRead)
def get_worker(worker_id: str, db_session: SessionDep, user: CurrentUser) -> WorkerRead:
    worker = service.get_visible_worker(
        db_session=db_session, worker_id=worker_id, scope_code=user.scope_code
    )
    return WorkerRead.of(worker)


@router.post("/workers", response_model=WorkerRead, status_code=201)
def create_worker(
    body: WorkerCreate, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> WorkerRead:
    require_roles(user, Role.admin, Role.operator)
    for code in body.grid_codes:
        _require_in_scope(user, code)
    worker = service.create_worker(
        db_session=db_session,
        worker_id=body.id,
        name=body.name,
        phone=body.phone,
        role=body.role,
        grid_codes=body.grid_codes,
        now=clock.now(),
    )
    db_session.commit()
    return WorkerRead.of(worker)


@router.patch("/workers/{worker_id}", response_model=WorkerRead)
def update_worker(
    worker_id: str, body: WorkerUpdate, db_session: SessionDep, user: CurrentUser
) -> WorkerRead:
    require_roles(user, Role.admin, Role.operator)
    worker = service.get_visible_worker(
        db_session=db_session, worker_id=worker_id, scope_code=user.scope_code
    )
    service.update_worker(db_session=db_session, worker=worker, changes=body)
    db_session.commit()
    return WorkerRead.of(worker)


@router.put("/workers/{worker_id}/grids/{code}", response_model=WorkerRead)
def assign_worker(
    worker_id: str, code: str, db_session: SessionDep, user: CurrentUser
) -> WorkerRead:
    _require_in_scope(user, code)
    worker = service.get_worker(db_session=db_session, worker_id=worker_id)
    service.assign_worker(db_session=db_session, worker=worker, grid_code=code)
    db_session.commit()
    return WorkerRead.of(worker)


@router.delete("/workers/{worker_id}/grids/{code}", response_model=WorkerRead)
def unassign_worker(
    worker_id: str, code: str, db_session: SessionDep, user: CurrentUser
) -> WorkerRead:
    _require_in_scope(user, code)
    worker = service.get_worker(db_session=db_session, worker_id=worker_id)
    service.unassign_worker(db_session=db_session, worker=worker, grid_code=code)
    db_session.commit()
    return WorkerRead.of(worker)


@router.get("/units", response_model=list[UnitRead])
def list_units(db_session: SessionDep, user: CurrentUser) -> list[UnitRead]:
    rows = service.list_units(db_session=db_session, scope_code=user.scope_code)
    return [UnitRead.of(u) for u in rows]


# --- grid boundaries (versioned, changed only by approval: hub.areas.boundaries) -------------


def _feature(row: GridBoundary, grid: Grid) -> BoundaryFeature:
    return BoundaryFeature.model_validate(boundaries.feature(row, grid.name))


@router.get("/grids/{code}/boundary", response_model=BoundaryFeature)
def get_boundary(code: str, db_session: SessionDep, user: CurrentUser) -> BoundaryFeature:
    """The grid's boundary in force, as a GeoJSON Feature."""
    grid = service.get_grid(db_session=db_session, code=code, scope_code=user.scope_code)
    row = boundaries.current(db_session=db_session, grid_code=grid.code)
    if row is None:
        raise NotFoundError(f"grid {code} has no boundary yet")
    return _feature(row, grid)


@router.get("/grids/{code}/boundaries", response_model=BoundaryCollection)
def list_boundary_versions(
    code: str, db_session: SessionDep, user: CurrentUser
) -> BoundaryCollection:
    """Every version of the grid's boundary, newest first (proposed, in force, rejected,
    superseded)."""
    grid = service.get_grid(db_session=db_session, code=code, scope_code=user.scope_code)
    rows = boundaries.versions(db_session=db_session, grid_code=grid.code)
    return BoundaryCollection(features=[_feature(r, grid) for r in rows])


# a boundary of MAX_VERTICES positions is about 200 KB of GeoJSON; nothing bigger is parsed
_boundary_writes = APIRouter(route_class=limited_route(1024 * 1024))


@_boundary_writes.put("/grids/{code}/boundary", response_model=BoundaryFeature, status_code=202)
def propose_boundary(
    code: str, body: BoundaryProposal, db_session: SessionDep, user: CurrentUser,
    clock: ClockDep,
) -> BoundaryFeature:  # fmt: skip
    """Propose a new boundary (202: filed, in force once another admin approves it)."""
    _require_in_scope(user, code)
    grid = service.get_grid(db_session=db_session, code=code, scope_code=user.scope_code)
    row = boundaries.propose(db_session=db_session, grid=grid, geometry=body.geometry,
                             actor=user.actor, at=clock.now(), reason=body.reason)  # fmt: skip
    db_session.commit()
    return _feature(row, grid)


def _decide(
    code: str, version: int, body: BoundaryDecision, db_session: SessionDep, user: Principal,
    clock: ClockDep, approve: bool,
) -> BoundaryFeature:  # fmt: skip
    _require_in_scope(user, code)
    grid = service.get_grid(db_session=db_session, code=code, scope_code=user.scope_code)
    row = boundaries.get_version(db_session=db_session, grid_code=grid.code, version=version)
    decide = boundaries.approve if approve else boundaries.reject
    decide(db_session=db_session, grid=grid, row=row, actor=user.actor, at=clock.now(),
           note=body.note)  # fmt: skip
    db_session.commit()
    return _feature(row, grid)


@router.post("/grids/{code}/boundaries/{version}/approve", response_model=BoundaryFeature)
def approve_boundary(
    code: str, version: RowId, body: BoundaryDecision, db_session: SessionDep, user: AdminUser,
    clock: ClockDep,
) -> BoundaryFeature:  # fmt: skip
    """Put a proposed boundary in force (an admin other than its proposer)."""
    return _decide(code, version, body, db_session, user, clock, approve=True)


@router.post("/grids/{code}/boundaries/{version}/reject", response_model=BoundaryFeature)
def reject_boundary(
    code: str, version: RowId, body: BoundaryDecision, db_session: SessionDep, user: AdminUser,
    clock: ClockDep,
) -> BoundaryFeature:  # fmt: skip
    return _decide(code, version, body, db_session, user, clock, approve=False)


@router.get("/boundaries", response_model=BoundaryCollection)
def list_boundaries(
    db_session: SessionDep,
    user: CurrentUser,
    status: Annotated[BoundaryStatus, Query()] = BoundaryStatus.approved,
    area: Annotated[str | None, Query(pattern=r"^\d{6,14}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: PageOffset = 0,
) -> BoundaryCollection:
    """Grid boundaries inside the caller's area (and ``area``) as one FeatureCollection: those
    in force by default, ``status=proposed`` for what awaits approval."""
    query = (
        select(GridBoundary, Grid)
        .join(Grid, Grid.code == GridBoundary.grid_code)
        .where(GridBoundary.status == status.value)
    )
    for prefix in (user.scope_code, area):
        if prefix is not None:
            query = query.where(GridBoundary.grid_code.startswith(prefix, autoescape=True))
    rows = db_session.execute(
        query.order_by(GridBoundary.grid_code, GridBoundary.version).limit(limit).offset(offset)
    )
    return BoundaryCollection(features=[_feature(b, g) for b, g in rows])


router.include_router(_boundary_writes)
