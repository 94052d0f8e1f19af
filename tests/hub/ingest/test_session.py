"""The worker's broker link: retried with backoff when the broker is down at start, and a
persistent session under a stable client id, so the broker queues for a worker that is away."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.events.models import Event
from hub.ingest.worker import IngestWorker
from tests.builders.devices import TestDevice
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


def _stored(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def test_broker_down_at_start_is_retried_in_the_background(
    broker: Mosquitto,
    start_worker: Callable[..., IngestWorker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker.stop()
    caplog.set_level(logging.INFO, logger="hub.ingest.worker")
    worker = start_worker(reconnect_min_s=0.2, reconnect_max_s=0.4)  # returns, never raises
    assert not worker.broker_connected
    wait_until("two failed attempts", lambda: worker._next_delay == 0.4)
    broker.start()
    wait_until("the link up", lambda: worker.broker_connected, 10)
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.ingest.worker"]
    where = f"broker {broker.host}:{broker.port}"
    assert lines[0] == f"{where} unreachable, retrying in 0.2 s", lines
    assert lines[1].startswith(f"{where} connected as {worker.client_id}"), lines
    assert len(lines) == 2, lines  # one line per state change, not one per attempt


def test_messages_published_while_the_worker_is_away_are_queued_for_it(
    broker: Mosquitto,
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-away")
    dev.register(db_session)
    db_session.commit()
    wire = wire_factory()
    first = start_worker(client_id="gl-test-0")
    wire.publish(*dev.event("heartbeat", {"bat": 1}))
    wait_until("the first event stored", lambda: _stored(session_factory) == 1)
    first.stop()
    assert not first.broker_connected
    for n in range(5):  # nobody connected: the broker keeps them in the worker's session
        wire.publish(*dev.event("heartbeat", {"bat": n}))
    start_worker(client_id="gl-test-0")
    wait_until("the 5 events queued for the session stored", lambda: _stored(session_factory) == 6)
