"""The load: every validated row upserted by its natural key in the caller's transaction.

Bulk statements (``executemany``), no per-row query: the database's rows were read once into
``Existing``. A row equal to the database's is left alone ("unchanged"); rows absent from the
files are never deleted. The caller commits (or rolls back) once: all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from hub.areas.models import (
    LEVEL_CODE_LENGTH,
    Area,
    Grid,
    Level,
    Unit,
    UnitResponsibility,
    Worker,
    WorkerGrid,
)
from hub.auth.models import ApiToken
from hub.auth.service import create_token
from hub.cases.models import Category
from hub.clock import Clock
from hub.onboarding.snapshot import AccountRow, Existing
from hub.onboarding.validate import NO_PROGRESS, Plan, Progress

CHUNK = 500  # rows per executemany (and per progress step)
T = TypeVar("T")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class LoadResult:
    counts: dict[str, Counts] = field(default_factory=dict)  # per file given, in load order
    tokens: dict[str, str] = field(default_factory=dict)  # new account -> secret (shown once)


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class _Writer:
    def __init__(self, db_session: Session, progress: Progress) -> None:
        self.db, self.progress = db_session, progress

    def insert(self, model: type[Any], rows: list[dict[str, Any]], *, step: bool = True) -> None:
        """``rows`` in chunks; ``step``: each is a row of a file (advance the progress)."""
        table = model.__table__  # Core, not the ORM's bulk insert: a third of the time
        for chunk in _chunks(rows):
            self.db.execute(insert(table), list(chunk))
            self.progress.advance(len(chunk) if step else 0)

    def update(self, model: type[Any], rows: list[dict[str, Any]], *, step: bool = True) -> None:
        for chunk in _chunks(rows):
            self.db.execute(update(model), list(chunk))  # by primary key
            self.progress.advance(len(chunk) if step else 0)


def load(
    *,
    db_session: Session,
    plan: Plan,
    existing: Existing,
    clock: Clock,
    progress: Progress = NO_PROGRESS,
) -> LoadResult:
    """Upsert ``plan`` (validated against ``existing``, read in this same transaction)."""
    result = LoadResult()
    total = sum(len(getattr(plan, kind)) for kind in plan.kinds)
    progress.start("loading", total)
    w = _Writer(db_session, progress)
    if "areas" in plan.kinds:
        result.counts["areas"] = _areas(w, plan, existing)
    if "categories" in plan.kinds:
        result.counts["categories"] = _categories(w, plan, existing)
    if "grids" in plan.kinds:
        result.counts["grids"] = _grids(w, plan, existing)
    unit_ids = {key: rows[0].id for key, rows in existing.units.items() if len(rows) == 1}
    if "units" in plan.kinds:
        result.counts["units"] = _units(w, plan, existing, unit_ids)
    if "workers" in plan.kinds:
        result.counts["workers"] = _workers(w, plan, existing, clock)
    if "accounts" in plan.kinds:
        result.counts["accounts"] = _accounts(w, plan, existing, unit_ids, clock, result.tokens)
    db_session.flush()
    return result


def _split(counts: Counts, pairs: Iterable[tuple[T, T | None]]) -> tuple[list[T], list[T]]:
    """(new rows, changed rows) of (file row, database row) pairs; counts them."""
    new, changed = [], []
    for row, old in pairs:
        if old is None:
            new.append(row)
        elif row != old:
            changed.append(row)
        else:
            counts.unchanged += 1
    counts.created, counts.updated = len(new), len(changed)
    return new, changed


def _areas(w: _Writer, plan: Plan, existing: Existing) -> Counts:
    counts = Counts()
    new, changed = _split(counts, ((a, existing.areas.get(a.code)) for a in plan.areas))
    new.sort(key=lambda a: (len(a.code), a.code))  # parents first
    fields = ("code", "name", "level", "parent_code")
    w.insert(Area, [{f: getattr(a, f) for f in fields} for a in new])
    w.update(Area, [{f: getattr(a, f) for f in fields} for a in changed])
    # a new city adopts the districts and counties of the database under it that had no parent
    cities = {a.code for a in new if a.level == Level.city}
    filed = {a.code for a in plan.areas}
    adopted = [{"code": a.code, "parent_code": a.code[:4]} for a in existing.areas.values()
               if a.parent_code is None and a.code not in filed and a.code[:4] in cities
               and len(a.code) == LEVEL_CODE_LENGTH[Level.district]]  # fmt: skip
    w.update(Area, adopted, step=False)
    w.progress.advance(counts.unchanged)
    return counts


def _categories(w: _Writer, plan: Plan, existing: Existing) -> Counts:
    counts = Counts()
    new, changed = _split(counts, ((c, existing.categories.get(c.code)) for c in plan.categories))
    fields = ("code", "name", "deadline_hours", "active")
    w.insert(Category, [{f: getattr(c, f) for f in fields} for c in new])
    w.update(Category, [{f: getattr(c, f) for f in fields} for c in changed])
    w.progress.advance(counts.unchanged)
    return counts


def _grids(w: _Writer, plan: Plan, existing: Existing) -> Counts:
    counts = Counts()
    new, changed = _split(counts, ((g, existing.grids.get(g.code)) for g in plan.grids))
    fields = ("code", "name", "community_code", "lat_e6", "lon_e6")
    w.insert(Grid, [{f: getattr(g, f) for f in fields} for g in new])
    w.update(Grid, [{f: getattr(g, f) for f in fields} for g in changed])
    w.progress.advance(counts.unchanged)
    return counts


def _units(
    w: _Writer, plan: Plan, existing: Existing, unit_ids: dict[tuple[str, str], int]
) -> Counts:
    counts = Counts()
    new = [u for u in plan.units if (u.area_code, u.name) not in unit_ids]
    w.insert(Unit, [{"name": u.name, "area_code": u.area_code, "kind": u.kind} for u in new])
    if new:
        for row in w.db.execute(select(Unit.id, Unit.area_code, Unit.name)):
            unit_ids.setdefault((row.area_code, row.name), row.id)
    added: list[dict[str, Any]] = []
    removed = []
    kinds: list[dict[str, Any]] = []
    for spec in plan.units:
        unit_id = unit_ids[(spec.area_code, spec.name)]
        old = existing.units_by_id.get(unit_id)
        had = old.categories if old is not None else frozenset()
        for category in sorted(spec.categories - had, key=lambda c: c or ""):
            added.append({"unit_id": unit_id, "area_code": spec.area_code,
                          "category_code": category, "lead": True})  # fmt: skip
        removed += [(unit_id, spec.area_code, c) for c in had - spec.categories]
        if old is not None and old.kind != spec.kind:
            kinds.append({"id": unit_id, "kind": spec.kind})
        if old is None:
            counts.created += 1
        elif old.kind != spec.kind or had != spec.categories:
            counts.updated += 1
        else:
            counts.unchanged += 1
    w.update(Unit, kinds, step=False)
    w.insert(UnitResponsibility, added, step=False)
    for chunk in _chunks(removed):
        w.db.execute(
            delete(UnitResponsibility).where(
                or_(
                    *(
                        and_(
                            UnitResponsibility.unit_id == unit_id,
                            UnitResponsibility.area_code == area,
                            UnitResponsibility.category_code.is_(None)
                            if category is None
                            else UnitResponsibility.category_code == category,
                        )
                        for unit_id, area, category in chunk
                    )
                )
            )
        )
    w.progress.advance(len(plan.units) - len(new))
    return counts


def _workers(w: _Writer, plan: Plan, existing: Existing, clock: Clock) -> Counts:
    counts = Counts()
    new, changed = _split(counts, ((r, existing.workers.get(r.id)) for r in plan.workers))
    now = clock.now()
    fields = ("id", "name", "phone", "role", "active")
    w.insert(Worker, [{**{f: getattr(r, f) for f in fields}, "created_at": now} for r in new])
    w.update(Worker, [{f: getattr(r, f) for f in fields} for r in changed])
    links, unlinks = [], []
    for row in [*new, *changed]:
        had = old.grid_codes if (old := existing.workers.get(row.id)) is not None else frozenset()
        links += [{"worker_id": row.id, "grid_code": g} for g in sorted(row.grid_codes - had)]
        unlinks += [(row.id, g) for g in had - row.grid_codes]
    w.insert(WorkerGrid, links, step=False)
    for chunk in _chunks(unlinks):
        w.db.execute(
            delete(WorkerGrid).where(
                or_(*(and_(WorkerGrid.worker_id == i, WorkerGrid.grid_code == g) for i, g in chunk))
            )
        )
    w.progress.advance(counts.unchanged)
    return counts


def _accounts(
    w: _Writer,
    plan: Plan,
    existing: Existing,
    unit_ids: dict[tuple[str, str], int],
    clock: Clock,
    tokens: dict[str, str],
) -> Counts:
    """New accounts get a token (its secret returned once); an existing one keeps its token,
    so a re-run never rotates a secret; a changed role, scope or unit updates it in place."""
    counts = Counts()
    changed: list[dict[str, Any]] = []
    for spec in plan.accounts:
        unit_id = unit_ids[spec.unit] if spec.unit is not None else None
        olds = existing.accounts.get(spec.name)
        if not olds:
            _row, tokens[spec.name] = create_token(
                db_session=w.db,
                name=spec.name,
                role=spec.role,
                scope_code=spec.scope_code,
                unit_id=unit_id,
                clock=clock,
            )
            counts.created += 1
        elif AccountRow(olds[0].id, spec.name, spec.role, spec.scope_code, unit_id) != olds[0]:
            changed.append({"id": olds[0].id, "role": spec.role, "scope_code": spec.scope_code,
                            "unit_id": unit_id})  # fmt: skip
            counts.updated += 1
        else:
            counts.unchanged += 1
        w.progress.advance()
    for chunk in _chunks(changed):
        w.db.execute(update(ApiToken), list(chunk))
    return counts
