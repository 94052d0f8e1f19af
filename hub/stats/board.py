"""The dashboard's figures for one reader and period: the totals of its area, the same figures
per child area (districts, streets, communities or grids: one level below the reader's scope),
and the cases by status and by level. Three grouped queries, whatever the number of cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from hub.areas.models import Area, Grid
from hub.cases.models import Case
from hub.stats.schemas import Board, Figures
from hub.stats.service import aggregates, fill, period

# The length of a child's code below a scope of this length (14-digit grid codes: 6 district,
# 3 street, 3 community, 2 grid); no scope: the districts.
CHILD_LENGTH = {0: 6, 6: 9, 9: 12, 12: 14}


def _names(db_session: Session, codes: list[str]) -> dict[str, tuple[str, str]]:
    """code -> (name, level) of the areas and grids among ``codes``."""
    if not codes:
        return {}
    found = {
        a.code: (a.name, a.level)
        for a in db_session.scalars(select(Area).where(Area.code.in_(codes)))
    }
    for g in db_session.scalars(select(Grid).where(Grid.code.in_(codes))):
        found[g.code] = (g.name, "grid")
    return found


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
    cond = period(scope, since, until)
    name, level = ("", "all")
    if scope_code is not None:
        name, level = _names(db_session, [scope_code]).get(scope_code, (scope_code, "area"))
    totals = fill(
        Figures(code=scope_code or "", name=name, level=level),
        db_session.execute(select(*aggregates(now)).where(cond)).one(),
    )
    child_length = CHILD_LENGTH.get(len(scope_code or ""))
    if child_length is not None:
        key = func.substr(Case.grid_code, 1, child_length)
        rows = db_session.execute(
            select(key, *aggregates(now))
            .where(cond, Case.grid_code.is_not(None))
            .group_by(key)
            .order_by(key)
        ).all()
        names = _names(db_session, [r[0] for r in rows])
        for row in rows:
            child_name, child_level = names.get(row[0], (row[0], "area"))
            totals.children.append(
                fill(Figures(code=row[0], name=child_name, level=child_level), row[1:])
            )
    by_status: dict[str, int] = {}
    by_level: dict[str, int] = {}
    matrix: list[dict[str, Any]] = []
    for status, case_level, count in db_session.execute(
        select(Case.status, Case.level, func.count())
        .where(cond, Case.duplicate_of_id.is_(None))
        .group_by(Case.status, Case.level)
        .order_by(Case.status, Case.level)
    ):
        by_status[status] = by_status.get(status, 0) + count
        by_level[case_level] = by_level.get(case_level, 0) + count
        matrix.append({"status": status, "level": case_level, "count": count})
    return Board(
        scope_code=scope_code,
        since=since,
        until=until,
        figures=totals,
        by_status=by_status,
        by_level=by_level,
        matrix=matrix,
    )
