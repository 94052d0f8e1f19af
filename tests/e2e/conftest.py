"""End-to-end fixtures: Mosquitto, the hub (migrated + seeded SQLite, ingest worker, REST API)
and a fleet of handhelds on `micropython` whose devices are registered with that hub."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.areas.models import Grid
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.devices.models import DeviceKind
from hub.devices.schemas import DeviceCreate
from hub.devices.service import register_device
from hub.ingest import runner
from hub.keys import load_or_create
from hub.migrations.runner import upgrade
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from simulator import Fleet
from simulator.fleet import SimDevice
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.hil


@dataclass
class Hub:
    settings: Settings
    api: TestClient
    demo: DemoData

    def grid_centre(self, code: str) -> tuple[int, int]:
        engine = make_engine(self.settings.database_url)
        try:
            with make_session_factory(engine)() as s:
                grid = s.get(Grid, code)
                assert grid is not None and grid.lat_e6 is not None and grid.lon_e6 is not None
                return grid.lat_e6, grid.lon_e6
        finally:
            engine.dispose()

    def register(self, dev: SimDevice, grid: str) -> None:
        engine = make_engine(self.settings.database_url)
        try:
            with session_scope(make_session_factory(engine)) as s:
                register_device(
                    db_session=s,
                    data=DeviceCreate(
                        id=dev.device_id,
                        kind=DeviceKind.handheld,
                        public_key=dev.public_key_hex,
                        grid_code=grid,
                    ),
                    clock=SystemClock(),
                )
        finally:
            engine.dispose()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as mosq:
        yield mosq


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    settings = Settings(
        data_dir=tmp_path / "hub",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        verify_distance_m=100,
        verify_window_s=3600,
    )
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as s:
        demo = seed_demo(db_session=s, clock=SystemClock())
    engine.dispose()
    ingest = runner.start(settings)
    headers = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    try:
        with TestClient(create_app(settings), headers=headers) as api:
            yield Hub(settings, api, demo)
    finally:
        ingest.stop()


@pytest.fixture
def fleet(tmp_path: Path, broker: Mosquitto, hub: Hub) -> Iterator[Fleet]:
    key = load_or_create(hub.settings.hub_key_path)
    f = Fleet(broker.host, broker.port, root=tmp_path / "fleet", hub_seed=key.seed)
    yield f
    f.cleanup()


def wait_until(what: str, probe: Callable[[], object], timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
