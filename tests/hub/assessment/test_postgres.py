"""The same known week on PostgreSQL: JSON body lookups, the correlated verification query,
the weekly job and a verdict behave as on SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.assessment import inspection, ranking, stars, weekly
from hub.assessment.figures import worker_figures
from hub.assessment.periods import parse, week
from hub.assessment.schemas import InspectionIn
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.ingest.processor import Processor
from hub.keys import load_or_create
from hub.media.store import FileBlobStore
from hub.migrations.runner import downgrade, upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.assessment.history import WORKER, week_of_work
from tests.hub.conftest import START
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture


def test_a_week_of_work_on_postgres(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        clock = FrozenClock(START)
        settings = Settings(
            env="development", data_dir=tmp_path, database_url=postgres_url, verify_window_s=3600
        )
        factory = make_session_factory(engine)
        store = FileBlobStore(settings.media_dir)
        processor = Processor(
            factory, load_or_create(settings.hub_key_path), store, clock=clock, settings=settings
        )

        def device(device_id: str, kind: str = "handheld") -> TestDevice:
            return TestDevice(device_id, now=lambda: int(clock.now().timestamp()), kind=kind)

        with factory() as db_session:
            seed_demo(db_session=db_session, clock=clock)
            db_session.commit()
            cases, _hh = week_of_work(db_session, processor, clock, settings, store, device)
            w02 = week("2026-W02", settings)
            mine = worker_figures(
                db_session=db_session,
                settings=settings,
                start=w02.start,
                end=w02.end,
                scope_code="330102001",
            )[WORKER]
            assert (mine.reports, mine.valid_reports, mine.visits, mine.collections) == (5, 3, 2, 1)
            assert (mine.verifications, mine.verifications_on_time) == (2, 1)
            reviewer = Principal(name="district-operator", role=Role.operator, scope_code="330102")
            inspection.review(
                db_session=db_session,
                principal=reviewer,
                at=clock.now(),
                data=InspectionIn(
                    case_id=cases["A"], verdict="unqualified", reason="blurred photo"
                ),
            )
            db_session.commit()
            clock.set(w02.end + timedelta(hours=settings.weekly_stats_delay_hours))
            assert weekly.run_weekly_stats(
                db_session=db_session, clock=clock, settings=settings
            ) == ["2026-W02"]
            db_session.commit()
            rows = weekly.read_week(
                db_session=db_session, settings=settings, label="2026-W02", scope_code="330102001"
            )
            stored = next(r for r in rows.workers if r.worker_id == WORKER)
            assert (stored.reports, stored.visits, stored.unqualified) == (5, 2, 1)
            board = ranking.ranking(
                db_session=db_session, settings=settings, month="2026-01", scope_code="330102"
            )
            assert board.districts[0].workers[0].worker_id == WORKER
            rated = stars.star_ratings(
                db_session=db_session,
                settings=settings,
                period_label="2026-01",
                scope_code="330102",
                now=clock.now(),
            )
            assert {c.code for c in rated.centres} == {"330102", "330102001", "330102002"}
            month = parse("2026-01", settings)
            assert month.start < START < month.end
    finally:
        engine.dispose()
    downgrade(postgres_url)
