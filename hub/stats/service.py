"""Performance figures: per area level, per unit, and per grid worker for a month."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from hub.areas.models import Area, Grid, Unit, Worker, WorkerGrid
from hub.areas.service import units_visible_in
from hub.cases.models import (
    DEADLINE_STATUSES,
    OPEN_STATUSES,
    Case,
    CaseTransition,
    CaseUnit,
    PartStatus,
    Supervision,
)
from hub.errors import InvalidInputError, NotFoundError
from hub.stats.schemas import Figures, WorkerMonth
from hub.workers import sessions

REWORK = ("reject", "reopen", "complaint")


def aggregates(now: datetime) -> list[Any]:
    """The columns of one ``Figures`` (in ``fill``'s order), for a plain or a grouped select."""
    open_values = [s.value for s in OPEN_STATUSES]
    deadline_values = [s.value for s in DEADLINE_STATUSES]
    dup = Case.duplicate_of_id.is_not(None)
    return [
        func.count(when((~dup, 1))),
        func.count(when((Case.status.in_(open_values), 1))),
        func.count(when((Case.status.in_(deadline_values) & (Case.deadline_at < now), 1))),
        func.count(Case.closed_at),
        func.count(when((Case.closed_on_time.is_(True), 1))),
        func.count(when((Case.closed_on_time.is_(False), 1))),
        func.coalesce(func.sum(Case.rework_count), 0),
        func.coalesce(func.sum(Case.escalation_count), 0),
        func.count(when(((Case.status == "voided") & ~dup, 1))),
        func.count(when((dup, 1))),
        func.coalesce(func.sum(Case.satisfaction), 0),
        func.count(Case.satisfaction),
    ]


def fill(into: Figures, row: Sequence[Any]) -> Figures:
    """Set ``into``'s counts from one row of ``aggregates`` (or the sum of several: every
    column adds up)."""
    (
        into.total,
        into.open,
        into.overdue,
        into.closed,
        into.closed_on_time,
        into.closed_late,
        rework,
        escalations,
        into.voided,
        into.duplicates,
        sat_sum,
        into.rated,
    ) = row
    into.rework_count, into.escalations = int(rework), int(escalations)
    into.satisfaction = round(float(sat_sum) / into.rated, 2) if into.rated else None
    judged = into.closed_on_time + into.closed_late
    into.on_time_rate = round(into.closed_on_time / judged, 4) if judged else None
    return into


def _case_figures(db_session: Session, condition: Any, now: datetime, into: Figures) -> Figures:
    return fill(into, db_session.execute(select(*aggregates(now)).where(condition)).one())


def period(query_cond: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query_cond = query_cond & (Case.reported_at >= since)
    if until is not None:
        query_cond = query_cond & (Case.reported_at < until)
    return query_cond


def area_figures(
    *,
    db_session: Session,
    code: str,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    with_children: bool = True,
) -> Figures:
    """Figures for an area (district / street / community) or grid, with its children's."""
    area = db_session.get(Area, code)
    grid = db_session.get(Grid, code) if area is None else None
    if area is None and grid is None:
        raise NotFoundError(f"area or grid {code} not found")
    name, level = (area.name, area.level) if area else (grid.name, "grid")  # type: ignore[union-attr]
    cond = period(Case.grid_code.startswith(code, autoescape=True), since, until)
    figures = _case_figures(db_session, cond, now, Figures(code=code, name=name, level=level))
    if with_children and area is not None:
        if area.level == "community":
            children: list[tuple[str, str, str]] = [
                (g.code, g.name, "grid")
                for g in db_session.scalars(
                    select(Grid).where(Grid.community_code == code).order_by(Grid.code)
                )
            ]
        else:
            children = [
                (a.code, a.name, a.level)
                for a in db_session.scalars(
                    select(Area).where(Area.parent_code == code).order_by(Area.code)
                )
            ]
        for child_code, child_name, child_level in children:
            cond = period(Case.grid_code.startswith(child_code, autoescape=True), since, until)
            figures.children.append(
                _case_figures(
                    db_session,
                    cond,
                    now,
                    Figures(code=child_code, name=child_name, level=child_level),
                )
            )
    return figures


def unit_figures(
    *,
    db_session: Session,
    now: datetime,
    scope_code: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Figures]:
    """Per unit: the cases it holds or closed (reported in the period), and the rework sent
    back to it; for a scoped reader only the units it may see (``units_visible_in``) and only
    cases of its area. Two grouped queries, whatever the number of units."""
    query = select(Unit).order_by(Unit.id)
    in_scope: Any = true()
    if scope_code is not None:
        query = query.where(units_visible_in(scope_code))
        in_scope = Case.grid_code.startswith(scope_code, autoescape=True)
    cond = period(Case.unit_id.is_not(None), since, until) & in_scope
    rows = {
        row[0]: row[1:]
        for row in db_session.execute(
            select(Case.unit_id, *aggregates(now)).where(cond).group_by(Case.unit_id)
        )
    }
    rework_rows = db_session.execute(
        select(CaseTransition.unit_id, func.count())
        .join(Case, Case.id == CaseTransition.case_id)
        .where(CaseTransition.action.in_(REWORK), period(in_scope, since, until))
        .group_by(CaseTransition.unit_id)
    ).all()
    rework = {unit_id: count for unit_id, count in rework_rows}
    notices: dict[int, dict[str, int]] = defaultdict(dict)
    issued = Supervision.issued_at
    window = true() if since is None else issued >= since
    if until is not None:
        window = window & (issued < until)
    for unit_id, kind, count in db_session.execute(
        select(Supervision.target_unit_id, Supervision.kind, func.count())
        .join(Case, Case.id == Supervision.case_id)
        .where(in_scope, window, Supervision.target_unit_id.is_not(None))
        .group_by(Supervision.target_unit_id, Supervision.kind)
    ):
        if unit_id is not None:
            notices[unit_id][kind] = int(count)
    co_rows = db_session.execute(
        select(CaseUnit.unit_id, func.count())
        .join(Case, Case.id == CaseUnit.case_id)
        .where(period(in_scope, since, until), CaseUnit.status != PartStatus.released.value)
        .group_by(CaseUnit.unit_id)
    ).all()
    co_handled = {unit_id: count for unit_id, count in co_rows}
    result = []
    for unit in db_session.scalars(query):
        fig = Figures(code=str(unit.id), name=unit.name, level=unit.area_code)
        if unit.id in rows:
            fill(fig, rows[unit.id])
        fig.rework_count = int(rework.get(unit.id, 0))
        fig.supervisions_by_kind = notices.get(unit.id, {})
        fig.supervisions = sum(fig.supervisions_by_kind.values())
        fig.co_handled = int(co_handled.get(unit.id, 0))
        result.append(fig)
    return result


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``"2026-01"`` -> [2026-01-01, 2026-02-01) in UTC."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
        end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInputError(f"month must look like 2026-01, not {month!r}") from exc
    return start, end


def _online_seconds(
    db_session: Session, start: datetime, end: datetime, scope_code: str | None
) -> dict[str, int]:
    """Online time per worker: the overlap of their sign-in sessions with [start, end)
    (``hub.workers.sessions``; for a scoped reader only sessions on grids inside its area)."""
    return sessions.online_seconds(
        db_session=db_session, start=start, end=end, scope_code=scope_code
    )


def worker_month(
    *,
    db_session: Session,
    month: str,
    scope_code: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[WorkerMonth]:
    """Monthly assessment figures per grid worker, ranked (cases filed + verifications, then
    online time, then id); ``offset`` / ``limit`` take a page of the ranking."""
    start, end = month_bounds(month)
    query = select(Worker.id, Worker.name).order_by(Worker.id)
    if scope_code is not None:
        query = (
            query.join(WorkerGrid)
            .where(WorkerGrid.grid_code.startswith(scope_code, autoescape=True))
            .distinct()
        )
    workers = db_session.execute(query).all()
    in_month = (Case.reported_at >= start) & (Case.reported_at < end)
    if scope_code is not None:  # only what the workers did inside the reader's area
        in_month = in_month & Case.grid_code.startswith(scope_code, autoescape=True)
    reports: dict[str, int] = {}
    cases: dict[str, int] = {}
    for worker_id, n_reports, n_cases in db_session.execute(
        select(
            Case.reporter_worker_id,
            func.count(),
            func.count(when((Case.duplicate_of_id.is_(None), 1))),
        )
        .where(in_month)
        .group_by(Case.reporter_worker_id)
    ):
        if worker_id is not None:
            reports[worker_id], cases[worker_id] = n_reports, n_cases
    verif_query = select(CaseTransition.actor, func.count()).where(
        CaseTransition.action.in_(("close", "reject")),
        CaseTransition.at >= start,
        CaseTransition.at < end,
    )
    if scope_code is not None:
        verif_query = verif_query.join(Case, Case.id == CaseTransition.case_id).where(
            Case.grid_code.startswith(scope_code, autoescape=True)
        )
    verif_rows = db_session.execute(verif_query.group_by(CaseTransition.actor)).all()
    verifications = {actor.removeprefix("worker:"): n for actor, n in verif_rows}
    online = _online_seconds(db_session, start, end, scope_code)
    # rank on plain tuples, build the rows of the page asked for only (5,000 workers a district)
    ranked = sorted(
        (
            -(cases.get(wid, 0) + verifications.get(wid, 0)),
            -online.get(wid, 0),
            wid,
            name,
        )
        for wid, name in workers
    )
    page = ranked[offset : None if limit is None else offset + limit]
    return [
        WorkerMonth(
            worker_id=wid,
            name=name,
            reports=reports.get(wid, 0),
            cases=cases.get(wid, 0),
            verifications=verifications.get(wid, 0),
            online_s=online.get(wid, 0),
            rank=offset + index,
        )
        for index, (_score, _online, wid, name) in enumerate(page, start=1)
    ]
