"""Star ratings (1-5) of grids and of the street and district command centres for a period.

A grid's score (0..100) is the mean of what it has of: the on-time rate of its cases closed
(reported in the period), its residents' mean rating (1..5 as 0..1) and the mean assessment
score of its workers (/100), x 100. A centre's is the same over the cases of its area, with
the mean score of its grids in place of the workers'. ``star_thresholds`` are the scores at
which 2, 3, 4 and 5 stars begin; with no figure at all there is no rating (``None``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from statistics import mean
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Area, Grid, WorkerGrid
from hub.assessment.periods import parse
from hub.assessment.ranking import DISTRICT_LEN, STREET_LEN, assessments
from hub.assessment.schemas import Rated, Stars
from hub.cases.models import Case
from hub.settings import Settings
from hub.stats.schemas import Figures
from hub.stats.service import aggregates, fill


def stars_for(score: float | None, settings: Settings) -> int | None:
    if score is None:
        return None
    return 1 + sum(1 for t in settings.star_thresholds if score >= t)


def _score(figures: Figures, third: float | None) -> float | None:
    parts = [figures.on_time_rate]
    parts.append(None if figures.satisfaction is None else (figures.satisfaction - 1) / 4)
    parts.append(None if third is None else third / 100)
    present = [p for p in parts if p is not None]
    return round(100 * mean(present), 2) if present else None


def _rated(code: str, name: str, level: str, fig: Figures, score: float | None,
           settings: Settings, *, workers: float | None = None,
           grids: float | None = None) -> Rated:  # fmt: skip
    return Rated(code=code, name=name, level=level, cases=fig.total,
                 on_time_rate=fig.on_time_rate, satisfaction=fig.satisfaction,
                 worker_score=workers, grid_score=grids, score=score,
                 stars=stars_for(score, settings))  # fmt: skip


def _sum(rows: Sequence[Sequence[Any]], width: int) -> list[Any]:
    return [sum(r[i] for r in rows) for i in range(width)] if rows else [0] * width


def star_ratings(
    *, db_session: Session, settings: Settings, period_label: str, scope_code: str | None,
    now: datetime,
) -> Stars:  # fmt: skip
    period = parse(period_label, settings)
    grids = db_session.scalars(
        select(Grid)
        .where(Grid.code.startswith(scope_code or "", autoescape=True))
        .order_by(Grid.code)
    ).all()
    columns = aggregates(now)
    in_period = (Case.reported_at >= period.start) & (Case.reported_at < period.end)
    if scope_code is not None:
        in_period = in_period & Case.grid_code.startswith(scope_code, autoescape=True)
    by_grid = {
        row[0]: list(row[1:])
        for row in db_session.execute(
            select(Case.grid_code, *columns).where(in_period).group_by(Case.grid_code)
        )
    }
    assessed = assessments(
        db_session=db_session, settings=settings, period=period, scope_code=scope_code
    )
    scores = {a.figures.worker_id: a.score.score for a in assessed}
    serving: dict[str, list[float]] = defaultdict(list)
    pairs = select(WorkerGrid.worker_id, WorkerGrid.grid_code)
    if scope_code is not None:
        pairs = pairs.where(WorkerGrid.grid_code.startswith(scope_code, autoescape=True))
    for worker_id, grid_code in db_session.execute(pairs):
        if worker_id in scores:
            serving[grid_code].append(scores[worker_id])
    width = len(columns)
    rated_grids: list[Rated] = []
    for grid in grids:
        fig = fill(Figures(code=grid.code, name=grid.name, level="grid"),
                   by_grid.get(grid.code) or [0] * width)  # fmt: skip
        workers = round(mean(serving[grid.code]), 2) if serving[grid.code] else None
        rated_grids.append(_rated(grid.code, grid.name, "grid", fig, _score(fig, workers),
                                  settings, workers=workers))  # fmt: skip
    by_prefix: dict[str, list[Rated]] = defaultdict(list)  # street / district -> its grids
    for rated in rated_grids:
        for length in (STREET_LEN, DISTRICT_LEN):
            by_prefix[rated.code[:length]].append(rated)
    centres: list[Rated] = []
    query = select(Area).where(Area.code.startswith(scope_code or "", autoescape=True))
    for area in db_session.scalars(query.order_by(Area.code)):
        if len(area.code) not in (STREET_LEN, DISTRICT_LEN):
            continue
        inside = by_prefix.get(area.code, [])
        fig = fill(Figures(code=area.code, name=area.name, level=area.level),
                   _sum([by_grid[g.code] for g in inside if g.code in by_grid], width))  # fmt: skip
        grid_scores = [g.score for g in inside if g.score is not None]
        of_grids = round(mean(grid_scores), 2) if grid_scores else None
        centres.append(_rated(area.code, area.name, area.level, fig, _score(fig, of_grids),
                              settings, grids=of_grids))  # fmt: skip
    return Stars(period=period.label, grids=rated_grids, centres=centres)
