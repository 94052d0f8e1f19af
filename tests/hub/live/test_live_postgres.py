"""The live feed on PostgreSQL, where ids are given at insert and rows commit in any order: a
case whose transaction commits after a later one's is still delivered, once; a resume's scope
and window filters (SQL) and the streams' own cursors hold here too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import upgrade
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from tests.hub.builders import report_event
from tests.hub.live.conftest import Served, Stream, bearer
from tests.hub.live.test_live_api import (
    test_a_crafted_cursor_replays_nothing_older_than_the_window as test_pg_crafted_cursor,
)
from tests.hub.live.test_live_api import (
    test_a_stream_cursor_carries_only_the_ids_of_its_own_events as test_pg_own_cursor,
)
from tests.hub.live.test_live_api import (
    test_last_event_id_resumes_what_was_missed as test_pg_resume,
)
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

STREET_A = "street-330102001-operator"
__all__ = ["test_pg_crafted_cursor", "test_pg_own_cursor", "test_pg_resume"]  # run on PostgreSQL


@pytest.fixture
def pg_settings(postgres_url: str, tmp_path: Path) -> Iterator[Settings]:  # noqa: F811
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(postgres_url)
    yield Settings(env="development", data_dir=tmp_path, database_url=postgres_url)


@pytest.fixture
def settings(pg_settings: Settings) -> Settings:  # the live_hub fixture serves this database
    return pg_settings


@pytest.fixture
def demo(pg_settings: Settings, clock: FrozenClock) -> Iterator[DemoData]:
    engine = make_engine(pg_settings.database_url)
    with make_session_factory(engine)() as s:
        data = seed_demo(db_session=s, clock=clock)
        s.commit()
    yield data
    engine.dispose()


def test_a_late_commit_is_delivered_on_postgres(
    live_hub: Served, pg_settings: Settings, clock: FrozenClock, demo: DemoData
) -> None:
    stream = Stream(live_hub.url, bearer(demo.tokens[STREET_A])).start()
    engine = make_engine(pg_settings.database_url)
    factory = make_session_factory(engine)
    slow: Session = factory()
    fast: Session = factory()
    try:
        first = device_events.on_report(
            db_session=slow,
            event=report_event(seq=1, at=clock.now()),
            clock=clock,
            settings=pg_settings,
        )  # flushed: it has its id, not committed
        second = device_events.on_report(
            # another grid: nothing the first transaction holds a lock on (blob references)
            db_session=fast,
            event=report_event(seq=2, at=clock.now(), grid="33010200100102", device_id="hh-2"),
            clock=clock,
            settings=pg_settings,
        )
        fast.commit()
        assert second.id > first.id
        stream.wait("the later case", lambda: stream.of("case"))
        assert [e.data["id"] for e in stream.of("case")] == [second.id]
        slow.commit()
        stream.wait("the earlier case, committed later", lambda: len(stream.of("case")) == 2)
        assert [e.data["id"] for e in stream.of("case")] == [second.id, first.id]
    finally:
        slow.close()
        fast.close()
        engine.dispose()
