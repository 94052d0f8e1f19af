"""Rollout locking on PostgreSQL, two real sessions at once: a writer that holds a rollout's
lock makes every other writer wait and then read what it committed (docs/ota.md, "Hub")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.db import make_engine, make_session_factory
from hub.media.store import FileBlobStore
from hub.migrations.runner import downgrade, upgrade
from hub.ota import rollouts, service
from hub.ota.models import RolloutDevice
from hub.settings import Settings
from protocol import bundle
from tests.builders.devices import TestDevice
from tests.hub.ota.conftest import make_glb
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
DEVICES = 3


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:  # noqa: F811
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()
    downgrade(postgres_url)


@pytest.fixture
def rollout(pg: Engine, settings: Settings, tmp_path: Path) -> tuple[sessionmaker[Session], Any]:
    """A rollout of one bundle to three devices, nothing queued yet; (factory, rollout)."""
    factory = make_session_factory(pg)
    clock = FrozenClock()
    with factory() as s:
        for i in range(DEVICES):
            TestDevice(f"hh-{i}", now=lambda: 0).register(s, None)
        row, _created = service.upload_bundle(
            db_session=s,
            store=FileBlobStore(tmp_path / "ota"),
            data=make_glb(),
            settings=settings,
            clock=clock,
        )
        made = service.create_rollout(
            db_session=s, clock=clock, bundle_id=row.id, target={"all": True}, stages=[100],
            auto_advance=False, advance_success_percent=90, pause_failure_percent=100,
            pause_min_done=1, device_timeout_s=120,
        )  # fmt: skip
        s.commit()
    return factory, made


def _waiting_on_a_lock(pg: Engine) -> bool:
    with pg.connect() as conn:
        n = conn.execute(
            text("select count(*) from pg_stat_activity where wait_event_type = 'Lock'")
        ).scalar_one()
    return bool(n)


def _in_thread(factory: sessionmaker[Session], work: Callable[[Session], int]) -> Callable[[], int]:
    got: list[int] = []

    def run() -> None:
        with factory() as s:
            got.append(work(s))
            s.commit()

    t = threading.Thread(target=run)
    t.start()

    def join() -> int:
        t.join(30)
        assert not t.is_alive() and len(got) == 1
        return got[0]

    return join


def test_two_supervision_passes_queue_one_command_per_device(
    pg: Engine, rollout: tuple[sessionmaker[Session], Any]
) -> None:
    factory, made = rollout
    clock = FrozenClock()
    with factory() as first:
        rollouts.supervise(db_session=first, clock=clock)  # holds the lock, uncommitted
        second = _in_thread(factory, lambda s: rollouts.supervise(db_session=s, clock=clock))
        wait_until("the second pass waiting on the rollout's lock", lambda: _waiting_on_a_lock(pg))
        first.commit()
    second()
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Command)) == DEVICES
        states = s.scalars(select(RolloutDevice.state).where(RolloutDevice.rollout_id == made.id))
        assert sorted(states) == ["queued"] * DEVICES


def test_a_timeout_never_overwrites_a_success_committed_meanwhile(
    pg: Engine, rollout: tuple[sessionmaker[Session], Any]
) -> None:
    factory, made = rollout
    clock = FrozenClock()
    with factory() as s:
        rollouts.start(db_session=s, rollout=s.merge(made), clock=clock)
        s.commit()
    clock.advance(seconds=120)
    body = bundle.event_body(made.id, made.bundle_id, "0.2.0", "updated")
    with factory() as ingest:
        rollouts.apply_report(db_session=ingest, device_id="hh-0", seq=7, body=body, clock=clock)
        timer = _in_thread(factory, lambda s: rollouts.time_out_due(db_session=s, clock=clock))
        wait_until("the timer waiting on the rollout's lock", lambda: _waiting_on_a_lock(pg))
        ingest.commit()
    assert timer() == DEVICES - 1
    with factory() as s:
        entry = s.get(RolloutDevice, (made.id, "hh-0"))
        assert entry is not None and (entry.state, entry.reason) == ("updated", None)
