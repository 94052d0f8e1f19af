"""Routing: which unit at which level is responsible for a case, and the responsibilities
(unit x area x category) that decide it. Responsibilities name categories, so they are made
here, above ``hub.areas``, which keeps the units and areas themselves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import service as areas_service
from hub.areas.models import LEVEL_CODE_LENGTH, Area, Level, Unit, UnitResponsibility
from hub.cases.categories import get_category
from hub.cases.deadlines import deadline_for
from hub.cases.models import Case
from hub.errors import InvalidInputError, NotFoundError
from hub.levels import next_level
from hub.settings import Settings


def area_code_at(grid_code: str, level: Level | str) -> str:
    """The code of the area at ``level`` (community, street, district, city...) that contains
    ``grid_code``."""
    return grid_code[: LEVEL_CODE_LENGTH[Level(level)]]


def upper_level(*, db_session: Session, case: Case, settings: Settings) -> Level | None:
    """The level ``case`` escalates to: the escalation chain's next one above its level, when
    the area there exists above the case's grid (a deployment with no city area stops at its
    districts). None: the case is at the top."""
    upper = next_level(case.level, settings.escalation_chain)
    if upper is None or case.grid_code is None:
        return upper
    return upper if db_session.get(Area, area_code_at(case.grid_code, upper)) else None


def top_of_chain(case: Case, settings: Settings) -> str:
    """Why ``case`` cannot go higher, naming its level (``upper_level`` gave None)."""
    upper = next_level(case.level, settings.escalation_chain)
    if upper is None:
        return f"{case.level} level, the top of the escalation chain"
    return f"{case.level} level, the top for its area (no {upper.value} area above it)"


def route(
    *, db_session: Session, category_code: str | None, grid_code: str, level: Level | str
) -> Unit | None:
    """The unit responsible for ``category_code`` at ``level`` above ``grid_code``.

    A unit named for the category wins (lead first); otherwise the area's catch-all unit.
    """
    area = area_code_at(grid_code, level)
    query = (
        select(Unit)
        .join(UnitResponsibility, UnitResponsibility.unit_id == Unit.id)
        .where(UnitResponsibility.area_code == area)
    )
    if category_code is not None:
        specific = db_session.scalars(
            query.where(UnitResponsibility.category_code == category_code).order_by(
                UnitResponsibility.lead.desc(), Unit.id
            )
        ).first()
        if specific is not None:
            return specific
    return db_session.scalars(
        query.where(UnitResponsibility.category_code.is_(None)).order_by(Unit.id)
    ).first()


def co_route(
    *, db_session: Session, category_code: str | None, grid_code: str, level: Level | str,
    lead_id: int | None,
) -> list[Unit]:  # fmt: skip
    """The units that co-handle ``category_code`` at ``level`` above ``grid_code`` besides the
    lead: those with a responsibility for the category there that is not a lead one
    (``UnitResponsibility.lead`` false: e.g. the community office, territorial, beside the
    functional bureau that leads)."""
    if category_code is None:
        return []
    rows = db_session.scalars(
        select(Unit)
        .join(UnitResponsibility, UnitResponsibility.unit_id == Unit.id)
        .where(
            UnitResponsibility.area_code == area_code_at(grid_code, level),
            UnitResponsibility.category_code == category_code,
            UnitResponsibility.lead.is_(False),
        )
        .order_by(Unit.id)
    )
    return [u for u in rows.unique() if u.id != lead_id]


def check_responsible(*, unit: Unit, grid_code: str, level: Level) -> None:
    """Refuse a unit with no responsibility in the case's area at ``level`` (it would see and
    act on a case of another community / street)."""
    area = area_code_at(grid_code, level)
    if not any(r.area_code == area for r in unit.responsibilities):
        raise InvalidInputError(
            f"unit {unit.id} ({unit.name}) is not responsible for area {area} "
            f"at {level.value} level",
            code="unit_not_responsible",
        )


def assign(
    *,
    db_session: Session,
    case: Case,
    level: Level,
    unit_id: int | None,
    start: datetime,
    settings: Settings,
) -> None:
    """Put ``case`` with ``unit_id`` (or the routed unit) at ``level``, deadline from ``start``."""
    assert case.grid_code is not None
    if unit_id is not None:
        unit = db_session.get(Unit, unit_id)
        if unit is None:
            raise NotFoundError(f"unit {unit_id} not found")
        check_responsible(unit=unit, grid_code=case.grid_code, level=level)
    else:
        unit = route(
            db_session=db_session,
            category_code=case.category_code,
            grid_code=case.grid_code,
            level=level,
        )
    case.level = level.value
    case.unit_id = unit.id if unit is not None else None
    case.deadline_start_at = start
    case.deadline_at = deadline_for(
        db_session=db_session, category_code=case.category_code, start=start, settings=settings
    )
    case.warned_at = None


def _check_categories(db_session: Session, codes: list[str | None]) -> None:
    for code in codes:
        if code is not None and get_category(db_session=db_session, code=code) is None:
            raise NotFoundError(f"category {code} not found")


def create_unit(
    *,
    db_session: Session,
    name: str,
    area_code: str,
    kind: str = "functional",
    categories: list[str | None] | None = None,
) -> Unit:
    """A unit seated at ``area_code``, responsible there for ``categories`` (None = catch-all)."""
    _check_categories(db_session, list(categories or []))
    return areas_service.create_unit(
        db_session=db_session, name=name, area_code=area_code, kind=kind, categories=categories
    )


def add_responsibility(
    *,
    db_session: Session,
    unit: Unit,
    area_code: str,
    category_code: str | None,
    lead: bool = True,
) -> UnitResponsibility:
    """Make ``unit`` responsible for ``category_code`` (None: catch-all) in ``area_code``."""
    _check_categories(db_session, [category_code])
    return areas_service.add_responsibility(
        db_session=db_session,
        unit=unit,
        area_code=area_code,
        category_code=category_code,
        lead=lead,
    )
