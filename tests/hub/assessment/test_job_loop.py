"""`gridlink hub run`'s supervision loop runs the weekly job (on the system clock)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.areas.models import Worker
from hub.assessment.models import StatsWeek, WorkerWeek
from hub.assessment.periods import week_of
from hub.cli import _supervision_loop
from hub.seed import DemoData
from hub.settings import Settings
from tests.support.waiting import wait_until


def test_the_supervision_loop_stores_last_week(
    settings: Settings,
    demo: DemoData,
    db_session: Session,
    session_factory: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    for worker in db_session.scalars(select(Worker)):
        worker.created_at = now - timedelta(days=9)  # the workers exist since last week
    db_session.commit()
    last_week = week_of(now - timedelta(days=7), settings)
    if last_week.end + timedelta(hours=settings.weekly_stats_delay_hours) > now:
        settings = settings.model_copy(update={"weekly_stats_delay_hours": 0})
    stop = threading.Event()
    loop = threading.Thread(target=_supervision_loop, args=(stop, 0.05, settings), daemon=True)
    loop.start()
    try:

        def stored() -> set[str]:
            with session_factory() as reader:  # a fresh snapshot per look
                if reader.get(StatsWeek, last_week.label) is None:
                    return set()
                query = select(WorkerWeek.worker_id).where(WorkerWeek.week == last_week.label)
                return set(reader.scalars(query))

        assert wait_until(f"week {last_week.label} stored", stored) == set(demo.workers)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
