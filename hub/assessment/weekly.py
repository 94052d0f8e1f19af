"""Timer trigger: the weekly statistics (周统计), stored as one row per worker per ISO week.

``run_weekly_stats`` is called by ``gridlink hub run``'s supervision loop (and by tests with
a ``FrozenClock``). It stores each finished week of the last ``weekly_stats_backfill_weeks``
once ``weekly_stats_delay_hours`` have passed since the week ended and it is not stored yet
(weeks that ended before the first worker was created are skipped), so it is idempotent: a
second run stores nothing. ``store_week`` (the job's step, and the admin's recompute)
replaces a week's rows in one transaction, so a re-run never doubles a figure. Weeks are
local civil time (``work_utc_offset_minutes``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.areas.models import Worker
from hub.assessment.figures import worker_figures, workers_in
from hub.assessment.models import StatsWeek, WorkerWeek
from hub.assessment.periods import Period, week, week_of
from hub.assessment.schemas import WeekRows, WorkerFigures
from hub.clock import Clock
from hub.errors import ConflictError, NotFoundError
from hub.settings import Settings

logger = logging.getLogger(__name__)

ACTOR = "system:weekly-stats"
COUNTS = (
    "online_s",
    "reports",
    "valid_reports",
    "visits",
    "collections",
    "verifications",
    "verifications_on_time",
    "qualified",
    "unqualified",
)


def due_weeks(now: datetime, settings: Settings) -> list[Period]:
    """The finished weeks the job looks at, oldest first."""
    current = week_of(now, settings)
    delay = timedelta(hours=settings.weekly_stats_delay_hours)
    found = []
    for back in range(settings.weekly_stats_backfill_weeks, 0, -1):
        period = week_of(current.start - timedelta(days=7 * back - 3), settings)
        if period.end + delay <= now:
            found.append(period)
    return found


def run_weekly_stats(*, db_session: Session, clock: Clock, settings: Settings) -> list[str]:
    """Store every due week not stored yet; returns their labels. Flushes only."""
    now = clock.now()
    first = db_session.scalar(select(func.min(Worker.created_at)))
    stored = []
    for period in due_weeks(now, settings):
        if first is None or period.end <= first:
            continue  # no worker yet: nothing to count
        if db_session.get(StatsWeek, period.label) is None:
            store_week(db_session=db_session, settings=settings, period=period, at=now, by=ACTOR)
            stored.append(period.label)
            logger.info("weekly statistics of %s stored", period.label)
    return stored


def store_week(
    *, db_session: Session, settings: Settings, period: Period, at: datetime, by: str
) -> StatsWeek:
    """Compute the week's figures of every worker and replace its stored rows with them.
    A week that has not ended yet is a ``ConflictError``: its figures would still grow."""
    if period.end > at:
        raise ConflictError(f"week {period.label} has not ended yet", field="week")
    figures = worker_figures(
        db_session=db_session, settings=settings, start=period.start, end=period.end,
        scope_code=None,
    )  # fmt: skip
    db_session.execute(delete(WorkerWeek).where(WorkerWeek.week == period.label))
    row = db_session.get(StatsWeek, period.label)
    if row is None:
        row = StatsWeek(week=period.label, starts_at=period.start, ends_at=period.end,
                        computed_at=at, computed_by=by)  # fmt: skip
        db_session.add(row)
    row.computed_at, row.computed_by, row.workers = at, by, len(figures)
    db_session.flush()
    for fig in figures.values():
        db_session.add(
            WorkerWeek(
                week=period.label,
                worker_id=fig.worker_id,
                **{name: getattr(fig, name) for name in COUNTS},
            )
        )
    db_session.flush()
    return row


def read_week(
    *, db_session: Session, settings: Settings, label: str, scope_code: str | None
) -> WeekRows:
    """The stored rows of a week, for the workers serving a grid inside the reader's area."""
    period = week(label, settings)
    head = db_session.get(StatsWeek, period.label)
    if head is None:
        raise NotFoundError(f"the statistics of week {period.label} are not stored (yet)")
    workers = workers_in(db_session, scope_code)
    rows = db_session.scalars(
        select(WorkerWeek).where(WorkerWeek.week == period.label).order_by(WorkerWeek.worker_id)
    )
    found = [
        WorkerFigures(
            worker_id=r.worker_id,
            name=workers[r.worker_id].name,
            **{name: getattr(r, name) for name in COUNTS},
        )
        for r in rows
        if r.worker_id in workers
    ]
    return WeekRows(week=head.week, starts_at=head.starts_at, ends_at=head.ends_at,
                    computed_at=head.computed_at, computed_by=head.computed_by,
                    workers=found)  # fmt: skip
