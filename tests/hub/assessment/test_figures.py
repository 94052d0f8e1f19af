"""Per-worker figures of a period and the weekly job, against a known week (history.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.assessment import weekly
from hub.assessment.figures import worker_figures
from hub.assessment.models import StatsWeek, WorkerWeek
from hub.assessment.periods import parse, week
from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.settings import Settings
from hub.stats.service import _online_seconds
from tests.builders.devices import TestDevice
from tests.hub.assessment.history import OTHER, WORKER, visit_body, week_of_work
from tests.hub.builders import GRID
from tests.hub.conftest import START

W02 = "2026-W02"


def test_a_week_of_work_gives_exact_figures(
    db_session: Session,
    processor: Processor,
    clock: FrozenClock,
    settings: Settings,
    store: FileBlobStore,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    week_of_work(db_session, processor, clock, settings, store, device_factory)
    period = week(W02, settings)
    # local time: Monday 5 January 00:00 at UTC+8 is Sunday 16:00 UTC
    assert period.start == datetime(2026, 1, 4, 16, tzinfo=UTC)
    rows = worker_figures(
        db_session=db_session,
        settings=settings,
        start=period.start,
        end=period.end,
        scope_code=None,
    )
    mine = rows[WORKER]
    assert (mine.reports, mine.valid_reports) == (5, 3)  # B duplicate and C invalid are not
    assert (mine.visits, mine.collections) == (2, 1)
    assert (mine.verifications, mine.verifications_on_time) == (2, 1)
    assert (mine.rated, mine.satisfaction) == (1, 4.0)
    online = _online_seconds(db_session, period.start, period.end, None)
    assert mine.online_s == online.get(WORKER, 0)
    assert (rows[OTHER].visits, rows[OTHER].reports) == (1, 0)
    # every demo worker has a row, the idle ones all zero
    assert set(rows) == set(demo.workers)
    idle = rows["w00100102"]
    assert (idle.reports, idle.visits, idle.verifications, idle.online_s) == (0, 0, 0, 0)

    # inside a street: the other street's worker is not there, and no figure leaks in
    street = worker_figures(
        db_session=db_session,
        settings=settings,
        start=period.start,
        end=period.end,
        scope_code="330102001",
    )
    assert OTHER not in street and street[WORKER] == mine
    other_street = worker_figures(
        db_session=db_session,
        settings=settings,
        start=period.start,
        end=period.end,
        scope_code="330102002",
    )
    assert WORKER not in other_street and other_street[OTHER].visits == 1

    # the next week has none of it
    w03 = week("2026-W03", settings)
    later = worker_figures(
        db_session=db_session, settings=settings, start=w03.start, end=w03.end, scope_code=None
    )
    assert (later[WORKER].reports, later[WORKER].visits) == (0, 0)
    # the month holds all of it
    month = parse("2026-01", settings)
    in_month = worker_figures(
        db_session=db_session, settings=settings, start=month.start, end=month.end, scope_code=None
    )
    assert in_month[WORKER] == mine


def test_the_weekly_job_stores_each_finished_week_once(
    db_session: Session,
    processor: Processor,
    clock: FrozenClock,
    settings: Settings,
    store: FileBlobStore,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    _cases, hh = week_of_work(db_session, processor, clock, settings, store, device_factory)
    end = week(W02, settings).end  # Monday 12 January 00:00 local
    clock.set(end + timedelta(hours=settings.weekly_stats_delay_hours) - timedelta(seconds=1))
    assert weekly.run_weekly_stats(db_session=db_session, clock=clock, settings=settings) == []
    clock.advance(seconds=1)
    stored = weekly.run_weekly_stats(db_session=db_session, clock=clock, settings=settings)
    assert stored == [W02]  # weeks before the first worker existed are not stored
    db_session.commit()
    assert weekly.run_weekly_stats(db_session=db_session, clock=clock, settings=settings) == []

    rows = {r.worker_id: r for r in db_session.scalars(select(WorkerWeek))}
    assert set(rows) == set(demo.workers)
    mine = rows[WORKER]
    assert (mine.reports, mine.valid_reports, mine.visits, mine.collections) == (5, 3, 2, 1)
    assert (mine.verifications, mine.verifications_on_time) == (2, 1)
    head = db_session.get(StatsWeek, W02)
    assert head is not None and head.computed_by == weekly.ACTOR
    assert head.computed_at == clock.now() and head.workers == len(demo.workers)

    # a visit of that week uploaded late (the handheld was offline), then a recompute, twice:
    # the rows are replaced, never added to
    captured = int((week(W02, settings).start + timedelta(days=5)).timestamp())
    result = processor.process(
        [Inbound(*hh.event("visit", visit_body(WORKER, GRID, "3-202"), ts=captured))]
    )
    assert not result.rejected
    for _ in range(2):
        weekly.store_week(
            db_session=db_session,
            settings=settings,
            period=week(W02, settings),
            at=clock.now(),
            by="admin:x",
        )
        db_session.commit()
    again = db_session.scalars(select(WorkerWeek).where(WorkerWeek.worker_id == WORKER)).all()
    assert [(r.visits, r.reports) for r in again] == [(3, 5)]
    assert db_session.scalar(select(StatsWeek.computed_by)) == "admin:x"


def test_the_job_catches_up_after_a_stop(
    db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData
) -> None:
    """The hub was down for three weeks: each missed week is stored, oldest first."""
    clock.set(START + timedelta(days=7 * 3 + 1))
    stored = weekly.run_weekly_stats(db_session=db_session, clock=clock, settings=settings)
    assert stored == ["2026-W02", "2026-W03", "2026-W04"]
    assert weekly.run_weekly_stats(db_session=db_session, clock=clock, settings=settings) == []
