"""Row-by-row validation of the onboarding files before anything is written.

Every problem is collected (not only the first): bad cells, duplicates within a file, and
references checked against both the database and the files being loaded. A key that appears
in a file counts as known even when its row has another problem, so one bad cell is one error,
not a cascade of "not found" errors in the files that refer to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hub.areas.models import LEVEL_CODE_LENGTH, Level
from hub.areas.service import parent_code_of
from hub.auth.models import Role
from hub.levels import levels_of_length
from hub.onboarding.cells import WORKER_ID, Cells, unquote
from hub.onboarding.rows import Problem, Sheet
from hub.onboarding.snapshot import AreaRow, CategoryRow, Existing, GridRow, WorkerRow
from hub.onboarding.templates import CATCH_ALL


class Progress(Protocol):
    """What the import reports its progress to (the CLI's rich bar; ``NO_PROGRESS``)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


@dataclass(frozen=True)
class UnitSpec:
    area_code: str
    name: str
    kind: str
    categories: frozenset[str | None]


@dataclass(frozen=True)
class AccountSpec:
    name: str
    role: str
    scope_code: str | None
    unit: tuple[str, str] | None  # (area_code, name) of the unit, role unit only


@dataclass
class Plan:
    """The validated rows of every file given, in file order."""

    areas: list[AreaRow] = field(default_factory=list)
    categories: list[CategoryRow] = field(default_factory=list)
    grids: list[GridRow] = field(default_factory=list)
    units: list[UnitSpec] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    accounts: list[AccountSpec] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # the files given


@dataclass
class _Known:
    """Keys in the database or declared by the files read so far."""

    areas: dict[str, str]  # code -> level
    categories: set[str]
    grids: set[str]
    units: dict[tuple[str, str], int]  # key -> how many units (in the database) have it
    accounts: dict[str, int]  # name -> how many tokens (not revoked) have it


def validate(
    sheets: dict[str, Sheet], existing: Existing, progress: Progress = NO_PROGRESS
) -> tuple[Plan, list[Problem]]:
    """Check every row of ``sheets`` (kind -> sheet, read by ``rows``); the plan is only
    meaningful when the problem list is empty."""
    problems = [p for sheet in sheets.values() for p in sheet.problems]
    known = _Known(
        areas={code: a.level for code, a in existing.areas.items()},
        categories=set(existing.categories),
        grids=set(existing.grids),
        units={key: len(rows) for key, rows in existing.units.items()},
        accounts={name: len(rows) for name, rows in existing.accounts.items()},
    )
    plan = Plan(kinds=list(sheets))
    for sheet in sheets.values():  # declare first: files refer to each other in any order
        _declare(sheet, known)
    progress.start("validating", sum(len(s.rows) for s in sheets.values()))
    for kind, sheet in sheets.items():
        check = _CHECKS[kind]
        seen: dict[object, int] = {}
        for row in sheet.rows:
            cells = Cells(sheet.file, row, problems)
            key, record = check(cells, known)
            if key is not None and key in seen:
                cells.fail(_KEY_COLUMN[kind], f"duplicate of line {seen[key]}")
            elif key is not None:
                seen[key] = row.line
            if record is not None and not cells.bad:
                getattr(plan, kind).append(record)
            progress.advance()
    order = {sheet.file: index for index, sheet in enumerate(sheets.values())}
    problems.sort(key=lambda p: (order.get(p.file, -1), p.line, p.column or "", p.message))
    return plan, problems


_KEY_COLUMN = {
    "areas": "code",
    "categories": "code",
    "grids": "code",
    "units": "name",
    "workers": "id",
    "accounts": "name",
}


def _declare(sheet: Sheet, known: _Known) -> None:
    kind, rows = sheet.template.kind, sheet.rows
    if kind == "areas":
        for row in rows:
            code = row.values["code"]
            level = row.values["level"].lower()
            if code.isascii() and code.isdigit() and level in levels_of_length(len(code)):
                known.areas.setdefault(code, level)
    elif kind == "categories":
        known.categories.update(r.values["code"] for r in rows if r.values["code"])
    elif kind == "grids":
        known.grids.update(r.values["code"] for r in rows if r.values["code"])
    elif kind == "units":
        for row in rows:
            key = (row.values["area_code"], row.values["name"])
            known.units[key] = max(known.units.get(key, 0), 1)


def _area_ref(cells: Cells, column: str, code: str, known: _Known, file: str) -> None:
    if code not in known.areas:
        cells.fail(column, f"area {code} is in neither the database nor {file}")


def _check_area(cells: Cells, known: _Known) -> tuple[object, AreaRow | None]:
    code = cells.area_code("code")
    name = cells.text("name", 200)
    level = cells.choice("level", tuple(lv.value for lv in Level), None)
    parent = cells.raw("parent_code") or None
    if code is None:
        return None, None
    fits = levels_of_length(len(code))
    if level is not None and level not in fits:
        cells.fail("level", f"{level!r} does not fit code {code} ({len(code)} digits: "
                   f"{' or '.join(fits)})")  # fmt: skip
    expected = parent_code_of(code)
    above = " or ".join(levels_of_length(len(expected))) if expected else ""
    if expected is None:
        if parent is not None:
            cells.fail("parent_code", f"{parent!r}: a city has no parent")
            parent = None
    elif len(expected) == LEVEL_CODE_LENGTH[Level.city] and parent is None:
        # a district's or county's parent is its city when there is one (none: it is the top)
        parent = expected if known.areas.get(expected) == Level.city.value else None
    elif parent is None:
        cells.fail("parent_code", f"is empty: the parent of {code} is its {above} {expected}")
    if expected is not None and parent is not None and parent != expected:
        cells.fail(
            "parent_code",
            f"{parent!r} does not fit {code}: its parent is the {above} {expected} (the "
            f"code's first {len(expected)} digits)",
        )
    elif parent is not None:
        _area_ref(cells, "parent_code", parent, known, "areas.csv")
    if name is None or level is None:
        return code, None
    return code, AreaRow(code, name, level, parent)


def _check_category(cells: Cells, known: _Known) -> tuple[object, CategoryRow | None]:
    code = cells.text("code", 64)
    if code is not None and (code == CATCH_ALL or any(c.isspace() or c == ";" for c in code)):
        cells.fail("code", f"{code!r}: a category code has no spaces or ';' and is not '*'")
    name = cells.text("name", 200)
    hours = cells.integer("deadline_hours", 1, 24 * 365)
    active = cells.flag("active", True)
    if code is None or name is None or hours is None or active is None:
        return code, None
    return code, CategoryRow(code, name, hours, active)


def _check_grid(cells: Cells, known: _Known) -> tuple[object, GridRow | None]:
    code = cells.grid_code("code")
    name = cells.text("name", 200)
    community = cells.raw("community_code")
    lat = cells.degrees_e6("lat", 90)
    lon = cells.degrees_e6("lon", 180)
    if code is None:
        return None, None
    expected = code[: LEVEL_CODE_LENGTH[Level.community]]
    if community != expected:
        shown = f"{community!r}" if community else "empty"
        cells.fail(
            "community_code",
            f"{shown}: grid {code} lies in community {expected} (its first 12 digits)",
        )
    elif known.areas.get(community) != Level.community.value:
        cells.fail("community_code", f"community {community} is in neither the database nor "
                   "areas.csv")  # fmt: skip
    if name is None:
        return code, None
    return code, GridRow(code, name, expected, lat, lon)


def _check_unit(cells: Cells, known: _Known) -> tuple[object, UnitSpec | None]:
    area = cells.area_code("area_code")
    name = cells.text("name", 200)
    kind = cells.choice("kind", ("functional", "territorial"), "functional")
    categories: set[str | None] = set()
    for item in cells.items("categories"):
        if item == CATCH_ALL:
            categories.add(None)
        elif item not in known.categories:
            cells.fail("categories", f"category {item!r} is in neither the database nor "
                       "categories.csv")  # fmt: skip
        else:
            categories.add(item)
    if area is not None:
        _area_ref(cells, "area_code", area, known, "areas.csv")
    if area is None or name is None:
        return None, None
    if known.units.get((area, name), 0) > 1:
        cells.fail("name", f"{known.units[(area, name)]} units named {name!r} at {area} in the "
                   "database: rename one first")  # fmt: skip
    if kind is None:
        return (area, name), None
    return (area, name), UnitSpec(area, name, kind, frozenset(categories))


def _check_worker(cells: Cells, known: _Known) -> tuple[object, WorkerRow | None]:
    worker_id = cells.raw("id")
    if not WORKER_ID.fullmatch(worker_id):
        cells.fail("id", f"{worker_id!r} is not a worker id (1-64 of A-Z a-z 0-9 _ . -)")
    name = cells.text("name", 200)
    phone = cells.text("phone", 32, required=False)
    role = cells.choice("role", ("worker", "assistant"), "worker")
    active = cells.flag("active", True)
    grids: list[str] = []
    for item in cells.items("grid_codes"):
        if cells.grid_code("grid_codes", item) is None:
            continue
        if item not in known.grids:
            cells.fail("grid_codes", f"grid {item} is in neither the database nor grids.csv")
        grids.append(item)
    if not worker_id or name is None or role is None or active is None:
        return worker_id or None, None
    return worker_id, WorkerRow(worker_id, name, phone, role, active, frozenset(grids))


def _check_account(cells: Cells, known: _Known) -> tuple[object, AccountSpec | None]:
    name = cells.text("name", 120)
    role = cells.choice("role", tuple(r.value for r in Role), None)
    scope = cells.area_code("scope_code", required=False)
    if scope is not None:
        _area_ref(cells, "scope_code", scope, known, "areas.csv")
    elif role is not None and role != Role.admin and not cells.raw("scope_code"):
        cells.fail("scope_code", f"is empty: an account of role {role} needs an area scope")
    unit_area, unit_name = cells.raw("unit_area_code"), unquote(cells.raw("unit_name"))
    unit: tuple[str, str] | None = None
    if role == Role.unit:
        for column, value in (("unit_area_code", unit_area), ("unit_name", unit_name)):
            if not value:
                cells.fail(column, "is empty: a unit account names its unit")
        if unit_area and unit_name:
            unit = (unit_area, unit_name)
            count = known.units.get(unit, 0)
            if count == 0:
                cells.fail("unit_name", f"unit {unit_name!r} at {unit_area} is in neither the "
                           "database nor units.csv")  # fmt: skip
            elif count > 1:
                cells.fail("unit_name", f"{count} units named {unit_name!r} at {unit_area}")
    elif role is not None:
        for column, value in (("unit_area_code", unit_area), ("unit_name", unit_name)):
            if value:
                cells.fail(column, f"{value!r}: only a unit account names a unit")
    if name is not None and known.accounts.get(name, 0) > 1:
        cells.fail("name", f"{known.accounts[name]} tokens named {name!r} in the database: "
                   "revoke the extra ones first")  # fmt: skip
    if name is None or role is None:
        return name, None
    return name, AccountSpec(name, role, scope, unit)


_CHECKS: dict[str, Callable[[Cells, _Known], tuple[object, object]]] = {
    "areas": _check_area,
    "categories": _check_category,
    "grids": _check_grid,
    "units": _check_unit,
    "workers": _check_worker,
    "accounts": _check_account,
}
