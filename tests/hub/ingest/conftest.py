"""Ingest fixtures: a real Mosquitto, workers, a publishing test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.ingest.worker import IngestWorker
from hub.keys import HubKey
from hub.media.store import FileBlobStore
from hub.settings import Settings
from tests.support.mosquitto import Mosquitto
from tests.support.wire import MqttObserver


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "broker", max_packet_size=200_000) as mosq:
        yield mosq


@pytest.fixture
def start_worker(
    broker: Mosquitto,
    session_factory: sessionmaker[Session],
    hub_key: HubKey,
    store: FileBlobStore,
    clock: FrozenClock,
    settings: Settings,
) -> Iterator[Callable[..., IngestWorker]]:
    workers: list[IngestWorker] = []

    assert broker.hub_account is not None
    user, password = broker.hub_account

    def start(**kwargs: Any) -> IngestWorker:
        kwargs = {"username": user, "password": password, **kwargs}  # the hub's broker account
        worker = IngestWorker(
            session_factory=session_factory,
            hub_key=hub_key,
            store=store,
            host=broker.host,
            port=broker.port,
            clock=clock,
            settings=settings,
            **kwargs,
        )
        workers.append(worker.start())
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def wire_factory(broker: Mosquitto) -> Iterator[Callable[..., MqttObserver]]:
    """Plain MQTT clients that publish device traffic and record what the hub sends. They log
    in as the broker's ``observer``: an attacker holding a device's key and credentials,
    which is what the ingest tests' forged and tampered messages need."""
    wires: list[MqttObserver] = []

    def make(*subscribe: str) -> MqttObserver:
        wire = MqttObserver(broker, subscribe).start()
        wires.append(wire)
        return wire

    yield make
    for wire in wires:
        wire.stop()
