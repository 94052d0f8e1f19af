"""Hub test fixtures: a real SQLite file migrated by Alembic, a frozen clock, demo data, the hub
key, a blob store, an ingest processor and CPython stand-ins for devices."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.ingest.processor import Processor
from hub.ingest.runner import use_openssl
from hub.keys import HubKey, load_or_create
from hub.media.store import FileBlobStore
from hub.migrations.runner import upgrade
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from tests.builders.devices import TestDevice

use_openssl()  # Ed25519 through OpenSSL: the pure-Python fallback is ~100x slower

# Monday 5 January 2026, 09:00 local time (UTC+8): the start of a working day.
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated to head through Alembic; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "hub.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    db_path = tmp_path / "hub.db"
    shutil.copyfile(migrated_template, db_path)
    return Settings(
        env="development",
        data_dir=tmp_path,
        database_url=f"sqlite:///{db_path}",
        verify_distance_m=100,
        verify_window_s=3600,
        warn_before_deadline_ratio=0.75,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def demo(db_session: Session, clock: FrozenClock) -> DemoData:
    data = seed_demo(db_session=db_session, clock=clock)
    db_session.commit()
    return data


@pytest.fixture
def client(settings: Settings, clock: FrozenClock, demo: DemoData) -> Iterator[TestClient]:
    app = create_app(settings=settings, clock=clock)
    with TestClient(app) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def hub_key(settings: Settings) -> HubKey:
    return load_or_create(settings.hub_key_path)


@pytest.fixture
def store(settings: Settings) -> FileBlobStore:
    return FileBlobStore(settings.media_dir)


@pytest.fixture
def processor(
    session_factory: sessionmaker[Session],
    hub_key: HubKey,
    store: FileBlobStore,
    clock: FrozenClock,
    settings: Settings,
) -> Processor:
    return Processor(session_factory, hub_key, store, clock=clock, settings=settings)


@pytest.fixture
def device_factory(clock: FrozenClock) -> Callable[..., TestDevice]:
    def make(device_id: str, kind: str = "handheld") -> TestDevice:
        return TestDevice(device_id, now=lambda: int(clock.now().timestamp()), kind=kind)

    return make
