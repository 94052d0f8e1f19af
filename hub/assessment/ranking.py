"""Assessments of a period and the monthly ranking of workers per street and per district.

A worker belongs to every street and district one of its grids lies in; its figures are the
ones inside the reader's area, and the reader sees the rankings of the areas inside its own
(a street operator: its street's; a district operator: its district's and its streets').
Within each area workers are ranked by score (highest first), then valid reports, then
worker id: every rank is distinct (1, 2, 3 ...).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Area, WorkerGrid
from hub.assessment.figures import worker_figures
from hub.assessment.periods import Period, parse
from hub.assessment.schemas import AreaRanking, RankedWorker, Ranking, WorkerAssessment
from hub.assessment.scoring import score
from hub.errors import InvalidInputError
from hub.settings import Settings

STREET_LEN, DISTRICT_LEN = 9, 6


def assessments(
    *, db_session: Session, settings: Settings, period: Period, scope_code: str | None
) -> list[WorkerAssessment]:
    figures = worker_figures(
        db_session=db_session, settings=settings, start=period.start, end=period.end,
        scope_code=scope_code,
    )  # fmt: skip
    return [
        WorkerAssessment(period=period.label, figures=f, score=score(f, period, settings))
        for f in figures.values()
    ]


def ranking(
    *, db_session: Session, settings: Settings, month: str, scope_code: str | None
) -> Ranking:
    period = parse(month, settings)
    if period.kind != "month":
        raise InvalidInputError(f"the ranking is monthly: month like 2026-01, not {month!r}",
                                field="month")  # fmt: skip
    rows = assessments(db_session=db_session, settings=settings, period=period,
                       scope_code=scope_code)  # fmt: skip
    by_id = {a.figures.worker_id: a for a in rows}
    members: dict[str, set[str]] = {}
    pairs = select(WorkerGrid.worker_id, WorkerGrid.grid_code)
    if scope_code is not None:
        pairs = pairs.where(WorkerGrid.grid_code.startswith(scope_code, autoescape=True))
    for worker_id, grid_code in db_session.execute(pairs):
        if worker_id in by_id:
            for length in (STREET_LEN, DISTRICT_LEN):
                area = grid_code[:length]
                # only areas inside the reader's: a street sees no partial district ranking
                if scope_code is None or area.startswith(scope_code):
                    members.setdefault(area, set()).add(worker_id)
    areas = {
        a.code: a for a in db_session.scalars(select(Area).where(Area.code.in_(list(members))))
    }
    streets: list[AreaRanking] = []
    districts: list[AreaRanking] = []
    for code in sorted(areas):
        place = areas[code]
        ranked = sorted(
            (by_id[w] for w in members[code]),
            key=lambda a: (-a.score.score, -a.figures.valid_reports, a.figures.worker_id),
        )
        entry = AreaRanking(code=code, name=place.name, level=place.level)
        for index, a in enumerate(ranked, start=1):
            f = a.figures
            entry.workers.append(
                RankedWorker(
                    rank=index,
                    worker_id=f.worker_id,
                    name=f.name,
                    score=a.score.score,
                    reports=f.reports,
                    valid_reports=f.valid_reports,
                    visits=f.visits,
                    collections=f.collections,
                    verifications_on_time=f.verifications_on_time,
                    online_s=f.online_s,
                )  # fmt: skip
            )
        (streets if len(code) == STREET_LEN else districts).append(entry)
    return Ranking(month=period.label, scope_code=scope_code, streets=streets,
                   districts=districts)  # fmt: skip
