"""Areas, grids, workers and units: creation, lookup and scoped listing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from hub.areas.models import (
    GRID_CODE_LENGTH,
    LEVEL_CODE_LENGTH,
    Area,
    Grid,
    Level,
    Unit,
    UnitResponsibility,
    Worker,
    WorkerGrid,
)
from hub.areas.schemas import GridUpdate, WorkerUpdate
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.levels import (
    AREA_CODE_LENGTHS,
    DEFAULT_LEVEL_OF_LENGTH,
    levels_of_length,
    parent_length,
)

CITY_LENGTH = LEVEL_CODE_LENGTH[Level.city]


def level_of_code(code: str, level: Level | str | None = None) -> Level:
    """The level of an area ``code``: ``level`` when it fits the code's length (a 6-digit code
    is a district or a county...), else ``InvalidInputError``; None: the urban name."""
    names = levels_of_length(len(code))
    if not names:
        raise InvalidInputError(f"area code {code!r} must have 4, 6, 9 or 12 digits")
    if level is None:
        return DEFAULT_LEVEL_OF_LENGTH[len(code)]
    if level not in names:
        raise InvalidInputError(
            f"level {level!r} does not fit area code {code} ({len(code)} digits: "
            f"{' or '.join(names)})",
            code="level_mismatch",
        )
    return Level(level)


def parent_code_of(code: str) -> str | None:
    """Where an area's parent must be: the code's first 4 / 6 / 9 digits (None: a city)."""
    length = parent_length(len(code))
    return code[:length] if length is not None else None


def _check_digits(code: str, what: str) -> None:
    if not code.isascii() or not code.isdigit():
        raise InvalidInputError(f"{what} {code!r} must be digits only")


def create_area(
    *, db_session: Session, code: str, name: str, level: Level | str | None = None
) -> Area:
    """Create a city (4 digits), district or county (6), street or township (9) or community
    (12); ``level`` must fit the code's length (None: city, district, street, community). The
    parent, one level up, must exist, except above a district or county: its city is its
    parent when there is one (a deployment may have none). A new city adopts the districts and
    counties under it that had no parent."""
    _check_digits(code, "area code")
    found = level_of_code(code, level)
    if db_session.get(Area, code) is not None:
        raise ConflictError(f"area {code} exists")
    parent_code = parent_code_of(code)
    if parent_code is not None and db_session.get(Area, parent_code) is None:
        if len(parent_code) != CITY_LENGTH:
            raise NotFoundError(f"parent area {parent_code} of {code} not found")
        parent_code = None  # a district or county with no city above it
    area = Area(code=code, level=found.value, name=name, parent_code=parent_code)
    db_session.add(area)
    if found == Level.city:
        orphans = db_session.scalars(
            select(Area).where(
                Area.code.startswith(code, autoescape=True),
                func.length(Area.code) == LEVEL_CODE_LENGTH[Level.district],
                Area.parent_code.is_(None),
            )
        )
        for child in orphans:
            child.parent_code = code
    db_session.flush()
    return area


def list_areas(*, db_session: Session, scope_code: str | None = None) -> list[Area]:
    query = select(Area).order_by(Area.code)
    if scope_code is not None:
        query = query.where(Area.code.startswith(scope_code, autoescape=True))
    return list(db_session.scalars(query))


def create_grid(
    *,
    db_session: Session,
    code: str,
    name: str,
    lat_e6: int | None = None,
    lon_e6: int | None = None,
) -> Grid:
    _check_digits(code, "grid code")
    if len(code) != GRID_CODE_LENGTH:
        raise InvalidInputError(f"grid code {code!r} must have 14 digits")
    if db_session.get(Grid, code) is not None:
        raise ConflictError(f"grid {code} exists")
    community = code[: LEVEL_CODE_LENGTH[Level.community]]
    if db_session.get(Area, community) is None:
        raise NotFoundError(f"community {community} of grid {code} not found")
    grid = Grid(code=code, name=name, community_code=community, lat_e6=lat_e6, lon_e6=lon_e6)
    db_session.add(grid)
    db_session.flush()
    return grid


def update_grid(*, db_session: Session, grid: Grid, changes: GridUpdate) -> Grid:
    """Apply the fields set in ``changes``."""
    for key, value in changes.model_dump(exclude_unset=True).items():
        setattr(grid, key, value)
    db_session.flush()
    return grid


def get_grid(*, db_session: Session, code: str, scope_code: str | None = None) -> Grid:
    grid = db_session.get(Grid, code)
    if grid is None or (scope_code is not None and not code.startswith(scope_code)):
        raise NotFoundError(f"grid {code} not found")
    return grid


def list_grids(*, db_session: Session, scope_code: str | None = None) -> list[Grid]:
    query = select(Grid).order_by(Grid.code)
    if scope_code is not None:
        query = query.where(Grid.code.startswith(scope_code, autoescape=True))
    return list(db_session.scalars(query))


def create_worker(
    *,
    db_session: Session,
    worker_id: str,
    name: str,
    now: datetime,
    phone: str | None = None,
    role: str = "worker",
    grid_codes: list[str] | None = None,
) -> Worker:
    if db_session.get(Worker, worker_id) is not None:
        raise ConflictError(f"worker {worker_id} exists")
    if role not in ("worker", "assistant"):
        raise InvalidInputError("worker role is worker or assistant")
    worker = Worker(id=worker_id, name=name, phone=phone, role=role, created_at=now)
    db_session.add(worker)
    for code in grid_codes or []:
        assign_worker(db_session=db_session, worker=worker, grid_code=code)
    db_session.flush()
    return worker


def get_worker(*, db_session: Session, worker_id: str) -> Worker:
    worker = db_session.get(Worker, worker_id)
    if worker is None:
        raise NotFoundError(f"worker {worker_id} not found")
    return worker


def get_visible_worker(*, db_session: Session, worker_id: str, scope_code: str | None) -> Worker:
    """The worker, or ``NotFoundError`` when none of its grids lies inside ``scope_code``."""
    worker = get_worker(db_session=db_session, worker_id=worker_id)
    if not worker_visible(worker, scope_code):
        raise NotFoundError(f"worker {worker_id} not found")
    return worker


def update_worker(*, db_session: Session, worker: Worker, changes: WorkerUpdate) -> Worker:
    """Apply the fields set in ``changes``."""
    for key, value in changes.model_dump(exclude_unset=True).items():
        setattr(worker, key, value)
    db_session.flush()
    return worker


def assign_worker(*, db_session: Session, worker: Worker, grid_code: str) -> None:
    if db_session.get(Grid, grid_code) is None:
        raise NotFoundError(f"grid {grid_code} not found")
    if any(link.grid_code == grid_code for link in worker.grids):
        return
    worker.grids.append(WorkerGrid(grid_code=grid_code))


def unassign_worker(*, db_session: Session, worker: Worker, grid_code: str) -> None:
    worker.grids[:] = [link for link in worker.grids if link.grid_code != grid_code]
    db_session.flush()


def list_workers(*, db_session: Session, scope_code: str | None = None) -> list[Worker]:
    query = select(Worker).order_by(Worker.id)
    if scope_code is not None:
        query = (
            query.join(WorkerGrid, WorkerGrid.worker_id == Worker.id)
            .where(WorkerGrid.grid_code.startswith(scope_code, autoescape=True))
            .distinct()
        )
    return list(db_session.scalars(query))


def worker_visible(worker: Worker, scope_code: str | None) -> bool:
    if scope_code is None:
        return True
    return any(link.grid_code.startswith(scope_code) for link in worker.grids)


def create_unit(
    *,
    db_session: Session,
    name: str,
    area_code: str,
    kind: str = "functional",
    categories: list[str | None] | None = None,
) -> Unit:
    """A unit seated at ``area_code``, responsible there for ``categories`` (None = catch-all).

    The categories are the cases domain's: ``hub.cases.routing.create_unit`` checks them.
    """
    if db_session.get(Area, area_code) is None:
        raise NotFoundError(f"area {area_code} not found")
    unit = Unit(name=name, area_code=area_code, kind=kind)
    db_session.add(unit)
    db_session.flush()
    for category in categories or []:
        add_responsibility(
            db_session=db_session, unit=unit, area_code=area_code, category_code=category
        )
    return unit


def add_responsibility(
    *,
    db_session: Session,
    unit: Unit,
    area_code: str,
    category_code: str | None,
    lead: bool = True,
) -> UnitResponsibility:
    """Unit handles ``category_code`` in ``area_code``; ``hub.cases.routing`` checks the code."""
    if db_session.get(Area, area_code) is None:
        raise NotFoundError(f"area {area_code} not found")
    row = UnitResponsibility(
        unit_id=unit.id, area_code=area_code, category_code=category_code, lead=lead
    )
    db_session.add(row)
    db_session.flush()
    return row


def get_unit(*, db_session: Session, unit_id: int) -> Unit:
    unit = db_session.get(Unit, unit_id)
    if unit is None:
        raise NotFoundError(f"unit {unit_id} not found")
    return unit


def units_visible_in(scope_code: str) -> ColumnElement[bool]:
    """Units a reader of ``scope_code`` sees: those inside the area and those of the levels
    above it (a case may escalate to them), never a sibling area's units."""
    above = [scope_code[:n] for n in AREA_CODE_LENGTHS if n < len(scope_code)]
    return or_(Unit.area_code.startswith(scope_code, autoescape=True), Unit.area_code.in_(above))


def list_units(*, db_session: Session, scope_code: str | None = None) -> list[Unit]:
    query = select(Unit).order_by(Unit.id)
    if scope_code is not None:
        query = query.where(units_visible_in(scope_code))
    return list(db_session.scalars(query))
