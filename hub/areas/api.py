"""Areas, grids, workers and units (read scoped to the caller's area). The unit writes that
name categories are in ``hub.cases.api.responsibilities``."""

from __future__ import annotations

from fastapi import APIRouter

from hub.areas import service
from hub.areas.schemas import (
    AreaCreate,
    AreaRead,
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
from hub.deps import ClockDep, SessionDep
from hub.errors import PermissionDeniedError

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
