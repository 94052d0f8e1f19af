"""Areas, grids, workers, units and categories (read scoped to the caller's area)."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import AdminUser, ClockDep, CurrentUser, SessionDep, require_roles
from hub.areas import service
from hub.areas.models import Unit
from hub.areas.schemas import (
    AreaCreate,
    AreaRead,
    CategoryRead,
    CategoryWrite,
    GridCreate,
    GridRead,
    GridUpdate,
    ResponsibilityCreate,
    UnitCreate,
    UnitRead,
    WorkerCreate,
    WorkerRead,
    WorkerUpdate,
)
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.cases import service as cases_service
from hub.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/api", tags=["areas"])


def _require_in_scope(user: Principal, code: str) -> None:
    require_roles(user, Role.admin, Role.operator)
    if not user.covers(code):
        raise PermissionDeniedError(f"{code} is outside your area")


def _unit_read(unit: Unit) -> UnitRead:
    read = UnitRead.model_validate(unit)
    read.categories = [r.category_code for r in unit.responsibilities]
    return read


@router.get("/areas", response_model=list[AreaRead])
def list_areas(db_session: SessionDep, user: CurrentUser) -> list[AreaRead]:
    rows = service.list_areas(db_session=db_session, scope_code=user.scope_code)
    return [AreaRead.model_validate(a) for a in rows]


@router.post("/areas", response_model=AreaRead, status_code=201)
def create_area(body: AreaCreate, db_session: SessionDep, user: AdminUser) -> AreaRead:
    _require_in_scope(user, body.code)
    area = service.create_area(db_session=db_session, code=body.code, name=body.name)
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
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(grid, key, value)
    db_session.commit()
    return GridRead.model_validate(grid)


@router.get("/workers", response_model=list[WorkerRead])
def list_workers(db_session: SessionDep, user: CurrentUser) -> list[WorkerRead]:
    rows = service.list_workers(db_session=db_session, scope_code=user.scope_code)
    return [WorkerRead.of(w) for w in rows]


def _visible_worker(db_session: SessionDep, user: Principal, worker_id: str) -> WorkerRead:
    worker = service.get_worker(db_session=db_session, worker_id=worker_id)
    if not service.worker_visible(worker, user.scope_code):
        raise NotFoundError(f"worker {worker_id} not found")
    return WorkerRead.of(worker)


@router.get("/workers/{worker_id}", response_model=WorkerRead)
def get_worker(worker_id: str, db_session: SessionDep, user: CurrentUser) -> WorkerRead:
    return _visible_worker(db_session, user, worker_id)


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
    _visible_worker(db_session, user, worker_id)
    worker = service.get_worker(db_session=db_session, worker_id=worker_id)
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(worker, key, value)
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
    scope = user.scope_code[:6] if user.scope_code else None  # upper levels' units are visible
    rows = service.list_units(db_session=db_session, scope_code=scope)
    return [_unit_read(u) for u in rows]


@router.post("/units", response_model=UnitRead, status_code=201)
def create_unit(body: UnitCreate, db_session: SessionDep, user: CurrentUser) -> UnitRead:
    _require_in_scope(user, body.area_code)
    unit = service.create_unit(db_session=db_session, **body.model_dump())
    db_session.commit()
    return _unit_read(unit)


@router.post("/units/{unit_id}/responsibilities", response_model=UnitRead, status_code=201)
def add_responsibility(
    unit_id: int, body: ResponsibilityCreate, db_session: SessionDep, user: CurrentUser
) -> UnitRead:
    """Make the unit responsible for a category (null: catch-all) in an area of its level."""
    _require_in_scope(user, body.area_code)
    unit = db_session.get(Unit, unit_id)
    if unit is None or not user.covers(unit.area_code):
        raise NotFoundError(f"unit {unit_id} not found")
    service.add_responsibility(
        db_session=db_session,
        unit=unit,
        area_code=body.area_code,
        category_code=body.category_code,
        lead=body.lead,
    )
    db_session.commit()
    db_session.refresh(unit)
    return _unit_read(unit)


@router.get("/categories", response_model=list[CategoryRead], tags=["cases"])
def list_categories(db_session: SessionDep, user: CurrentUser) -> list[CategoryRead]:
    rows = cases_service.list_categories(db_session=db_session)
    return [CategoryRead.model_validate(c) for c in rows]


@router.put("/categories/{code}", response_model=CategoryRead, tags=["cases"])
def put_category(
    code: str, body: CategoryWrite, db_session: SessionDep, user: AdminUser
) -> CategoryRead:
    row = cases_service.upsert_category(db_session=db_session, code=code, **body.model_dump())
    db_session.commit()
    return CategoryRead.model_validate(row)
