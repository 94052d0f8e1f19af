"""What the database already holds, read once per import (one query per table, no per-row
lookups): validation checks references against it, the load compares rows with it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Area, Grid, Unit, UnitResponsibility, Worker, WorkerGrid
from hub.auth.models import ApiToken
from hub.cases.models import Category


@dataclass(frozen=True)
class AreaRow:
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True)
class CategoryRow:
    code: str
    name: str
    deadline_hours: int
    active: bool


@dataclass(frozen=True)
class GridRow:
    code: str
    name: str
    community_code: str
    lat_e6: int | None
    lon_e6: int | None


@dataclass(frozen=True)
class UnitRow:
    id: int
    area_code: str
    name: str
    kind: str
    categories: frozenset[str | None]  # responsibilities at its own area


@dataclass(frozen=True)
class WorkerRow:
    id: str
    name: str
    phone: str | None
    role: str
    active: bool
    grid_codes: frozenset[str]


@dataclass(frozen=True)
class AccountRow:
    """A token that is not revoked; the secret is not part of it."""

    id: int
    name: str
    role: str
    scope_code: str | None
    unit_id: int | None


@dataclass
class Existing:
    areas: dict[str, AreaRow] = field(default_factory=dict)
    categories: dict[str, CategoryRow] = field(default_factory=dict)
    grids: dict[str, GridRow] = field(default_factory=dict)
    units: dict[tuple[str, str], list[UnitRow]] = field(default_factory=dict)  # (area, name)
    units_by_id: dict[int, UnitRow] = field(default_factory=dict)
    workers: dict[str, WorkerRow] = field(default_factory=dict)
    accounts: dict[str, list[AccountRow]] = field(default_factory=dict)  # by name


def read_existing(*, db_session: Session) -> Existing:
    found = Existing()
    for a in db_session.execute(select(Area.code, Area.name, Area.level, Area.parent_code)):
        found.areas[a.code] = AreaRow(a.code, a.name, a.level, a.parent_code)
    for c in db_session.execute(
        select(Category.code, Category.name, Category.deadline_hours, Category.active)
    ):
        found.categories[c.code] = CategoryRow(c.code, c.name, c.deadline_hours, c.active)
    for g in db_session.execute(
        select(Grid.code, Grid.name, Grid.community_code, Grid.lat_e6, Grid.lon_e6)
    ):
        found.grids[g.code] = GridRow(g.code, g.name, g.community_code, g.lat_e6, g.lon_e6)
    seat: dict[int, set[str | None]] = {}
    for r in db_session.execute(
        select(UnitResponsibility.unit_id, UnitResponsibility.category_code)
        .join(Unit, Unit.id == UnitResponsibility.unit_id)
        .where(UnitResponsibility.area_code == Unit.area_code)
    ):
        seat.setdefault(r.unit_id, set()).add(r.category_code)
    for u in db_session.execute(select(Unit.id, Unit.area_code, Unit.name, Unit.kind)):
        row = UnitRow(u.id, u.area_code, u.name, u.kind, frozenset(seat.get(u.id, ())))
        found.units.setdefault((u.area_code, u.name), []).append(row)
        found.units_by_id[u.id] = row
    links: dict[str, set[str]] = {}
    for link in db_session.execute(select(WorkerGrid.worker_id, WorkerGrid.grid_code)):
        links.setdefault(link.worker_id, set()).add(link.grid_code)
    for w in db_session.execute(
        select(Worker.id, Worker.name, Worker.phone, Worker.role, Worker.active)
    ):
        found.workers[w.id] = WorkerRow(
            w.id, w.name, w.phone, w.role, w.active, frozenset(links.get(w.id, ()))
        )
    for t in db_session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.scope_code, ApiToken.unit_id)
        .where(ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id)
    ):
        found.accounts.setdefault(t.name, []).append(
            AccountRow(t.id, t.name, t.role, t.scope_code, t.unit_id)
        )
    return found
