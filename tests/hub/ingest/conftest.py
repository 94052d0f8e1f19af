"""Ingest fixtures: a real Mosquitto, workers, a publishing test client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.ingest.worker import IngestWorker
from hub.keys import HubKey
from hub.media.store import FileBlobStore
from hub.settings import Settings
from tests.support.mosquitto import Mosquitto


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

    def start(**kwargs: Any) -> IngestWorker:
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


class Wire:
    """A plain MQTT client for tests: publishes device traffic and records what the hub sends."""

    def __init__(self, broker: Mosquitto, subscribe: tuple[str, ...] = ()) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if subscribe:
            self.client.subscribe([(t, 1) for t in subscribe])
            assert self._ready.wait(5)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(t, p, qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)

    def messages(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.received if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def wire_factory(broker: Mosquitto) -> Iterator[Callable[..., Wire]]:
    wires: list[Wire] = []

    def make(*subscribe: str) -> Wire:
        wire = Wire(broker, subscribe)
        wires.append(wire)
        return wire

    yield make
    for wire in wires:
        wire.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not met within %.1f s" % timeout)
