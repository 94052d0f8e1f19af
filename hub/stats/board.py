"""The dashboard's figures for one reader and period: the totals of its area, the same figures
per child area (cities, districts, streets, communities or grids: one level below the reader's
scope), and the cases by status and by level. One grouped query (child area x status x level),
added up here: every figure is a count or a sum."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, true
from sqlalchemy.orm import Session

from hub.areas.models import LEVEL_CODE_LENGTH, Area, Grid, Level
from hub.cases.models import Case
from hub.stats.schemas import Board, Figures
from hub.stats.service import aggregates, fill, period

# The length of a child's code below a scope of this length (14-digit grid codes: 4 city, 2
# district or county, 3 street or township, 3 community, 2 grid); no scope: the cities, or the
# districts when there is no city area.
CHILD_LENGTH = {4: 6, 6: 9, 9: 12, 12: 14}


def _names(db_session: Session, codes: list[str]) -> dict[str, tuple[str, str]]:
    """code -> (name, level) of the areas and grids among ``codes``."""
    if not codes:
        return {}
    found = {
        a.code: (a.name, a.level)
        for a in db_session.execute(
            select(Area.code, Area.name, Area.level).where(Area.code.in_(codes))
        )
    }
    for code, name in db_session.execute(select(Grid.code, Grid.name).where(Grid.code.in_(codes))):
        found[code] = (name, "grid")
    return found


def _top_length(db_session: Session) -> int:
    """The code length of the top areas: 4 when there is a city area, else 6 (districts)."""
    city = db_session.scalar(select(Area.code).where(Area.level == Level.city.value).limit(1))
    return LEVEL_CODE_LENGTH[Level.city if city is not None else Level.district]


def _add(into: list[Any], row: Any) -> None:
    for i, value in enumerate(row):
        into[i] += value or 0


def board(
    *,
    db_session: Session,
    scope_code: str | None,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Board:
    """Cases reported in ``[since, until)`` inside ``scope_code`` (None: everywhere)."""
    scope: Any = (
        Case.grid_code.startswith(scope_code, autoescape=True) if scope_code is not None else true()
    )
    columns = aggregates(now)
    child_length = CHILD_LENGTH.get(len(scope_code)) if scope_code else _top_length(db_session)
    key: Any = func.substr(Case.grid_code, 1, child_length) if child_length else literal(None)
    rows = db_session.execute(
        select(key, Case.status, Case.level, *columns)
        .where(period(scope, since, until))
        .group_by(key, Case.status, Case.level)
    ).all()
    total: list[Any] = [0] * len(columns)
    children: dict[str, list[Any]] = {}
    by_status: dict[str, int] = {}
    by_level: dict[str, int] = {}
    cells: dict[tuple[str, str], int] = {}
    for child, status, level, *figures in rows:
        _add(total, figures)
        if child is not None:
            _add(children.setdefault(child, [0] * len(columns)), figures)
        count = figures[0]  # cases, duplicates left out
        if count:
            by_status[status] = by_status.get(status, 0) + count
            by_level[level] = by_level.get(level, 0) + count
            cells[(status, level)] = cells.get((status, level), 0) + count
    codes = sorted(children) + ([scope_code] if scope_code else [])
    names = _names(db_session, codes)
    name, level = names.get(scope_code, (scope_code, "area")) if scope_code else ("", "all")
    totals = fill(Figures(code=scope_code or "", name=name, level=level), total)
    for code in sorted(children):
        child_name, child_level = names.get(code, (code, "area"))
        totals.children.append(
            fill(Figures(code=code, name=child_name, level=child_level), children[code])
        )
    return Board(
        scope_code=scope_code,
        since=since,
        until=until,
        figures=totals,
        by_status=by_status,
        by_level=by_level,
        matrix=[{"status": s, "level": lv, "count": n} for (s, lv), n in sorted(cells.items())],
    )
