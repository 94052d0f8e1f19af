"""Ingest workers against a real Mosquitto: bad input, shared subscriptions, sessions."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.events.models import Event
from hub.events.service import rejection_counts
from hub.ingest.worker import IngestWorker
from protocol import command, topics
from tests.builders.devices import TestDevice
from tests.hub.ingest.streams import bad_input_stream
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


def _count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return int(s.scalar(select(func.count(Event.id))) or 0)


def test_bad_input_through_the_broker(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    stream = bad_input_stream(db_session, clock, device_factory)
    worker = start_worker()
    wire = wire_factory()
    wire.publish_all(stream.messages)
    total = sum(stream.expected.values())
    wait_until("every message counted", lambda: sum(worker.tally.snapshot().values()) >= total)
    wait_until("every valid event stored", lambda: _count(session_factory) >= len(stream.valid))

    def persisted() -> dict[str, int]:
        # the tally is counted in memory first and written with the next batch's commit
        with session_factory() as s:
            return rejection_counts(db_session=s)

    wait_until("every rejection persisted", lambda: persisted() == stream.expected,
               detail=persisted)  # fmt: skip
    with session_factory() as s:
        stored = {(e.device_id, e.seq) for e in s.scalars(select(Event))}
        assert stored == stream.valid
        assert rejection_counts(db_session=s) == stream.expected
    assert worker.tally.snapshot() == stream.expected


def test_two_workers_share_one_stream_without_loss_or_duplication(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    devices = [device_factory(f"hh-{i:02d}") for i in range(5)]
    for dev in devices:
        dev.register(db_session)
    db_session.commit()
    stream: list[tuple[str, bytes]] = []
    for n in range(100):
        for dev in devices:
            stream.append(dev.event("heartbeat", {"n": n}))
    redelivered = random.Random(7).sample(stream, 40)  # QoS 1 redeliveries, mixed in
    w1, w2 = start_worker(), start_worker()
    wires = [wire_factory(), wire_factory()]
    wires[0].publish_all(stream[:250] + redelivered[:20])
    wires[1].publish_all(stream[250:] + redelivered[20:])
    wait_until(
        "540 events stored or deduplicated",
        lambda: (
            w1.stats.stored + w2.stats.stored + w1.stats.duplicates + w2.stats.duplicates >= 540
        ),
        timeout=60,
    )
    assert w1.stats.stored > 0 and w2.stats.stored > 0  # both took a share
    assert w1.stats.stored + w2.stats.stored == 500
    with session_factory() as s:
        rows = s.execute(select(Event.device_id, Event.seq)).all()
        assert len(rows) == 500 and len(set(rows)) == 500
        assert Counter(d for d, _ in rows) == {dev.device_id: 100 for dev in devices}
        wait_until(
            "every device's last seq at 100",
            lambda: all(
                (s.expire_all() or True) and s.get(Device, d.device_id).last_seq == 100  # type: ignore[union-attr]
                for d in devices
            ),
        )
        assert rejection_counts(db_session=s) == {"duplicate": 40}
    assert w1.stats.rejected + w2.stats.rejected == 0


def test_birth_will_sessions_and_hub_state(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-sess")
    dev.register(db_session)
    db_session.commit()
    worker = start_worker()
    wire = wire_factory(topics.HUB_STATE, topics.rcpt("hh-sess"))
    wait_until("the hub state published", lambda: bool(wire.messages(topics.HUB_STATE)))
    hub_state = command.open_state(wire.messages(topics.HUB_STATE)[-1], worker.hub_key.public_key)
    assert hub_state["online"] is True and hub_state["dev"] is None

    def online() -> tuple[bool, int]:
        with session_factory() as s:
            d = s.get(Device, "hh-sess")
            assert d is not None
            return d.online, d.session

    old_will = dev.will(session=1)
    wire.publish(*dev.birth())  # session 1
    wait_until("the device online in session 1", lambda: online() == (True, 1))
    wire.publish(*dev.birth())  # reconnect: session 2
    wait_until("the device online in session 2", lambda: online() == (True, 2))
    wire.publish(*old_will)  # the broker fires session 1's will late
    wire.publish(*dev.event("heartbeat"))  # something to wait for after the will
    wait_until("one event stored", lambda: _count(session_factory) == 1)
    assert online() == (True, 2)
    wire.publish(*dev.will())  # session 2's will: really offline
    wait_until("the device offline in session 2", lambda: online() == (False, 2))
    assert wire.messages(topics.rcpt("hh-sess"))  # births and events are answered by receipts


def test_worker_survives_a_broker_restart(
    start_worker: Callable[..., IngestWorker],
    broker: object,
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    from tests.support.mosquitto import Mosquitto

    assert isinstance(broker, Mosquitto)
    dev = device_factory("hh-restart")
    dev.register(db_session)
    db_session.commit()
    worker = start_worker()
    wire = wire_factory()
    wire.publish(*dev.event("heartbeat", {"n": 1}))
    wait_until("one event stored", lambda: _count(session_factory) == 1)
    wire.stop()
    broker.restart()
    wait_until("the worker subscribed again", lambda: worker.subscribed_count == 2, timeout=20)
    wire = wire_factory()
    wire.publish(*dev.event("heartbeat", {"n": 2}))
    wait_until("two events stored", lambda: _count(session_factory) == 2, timeout=20)
