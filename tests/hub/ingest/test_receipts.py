"""Receipt coalescing: at most one receipt per device per interval, the last one never lost."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from hub.ingest.receipts import ReceiptCoalescer
from hub.ingest.worker import IngestWorker
from protocol import command, topics
from tests.builders.devices import TestDevice
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


def test_leading_edge_then_one_trailing_receipt_per_interval() -> None:
    c = ReceiptCoalescer(0.5)
    assert c.wait_s(0.0) is None and c.due(0.0) == {}
    c.add({"a": set()})
    assert c.wait_s(10.0) == 0.0
    assert c.due(10.0) == {"a": set()}  # quiet until now: answered at once
    c.add({"a": {"s1"}})
    c.add({"a": {"s2"}, "b": set()})
    assert c.due(10.1) == {"b": set()}  # a had one 0.1 s ago; b none yet
    assert c.wait_s(10.1) == pytest.approx(0.4)  # a: due at 10.5, though nothing more arrives
    assert c.due(10.4) == {}
    assert c.due(10.5) == {"a": {"s1", "s2"}}  # every batch since gathered into one
    assert c.wait_s(10.5) is None and len(c) == 0


def test_restore_and_drain_lose_nothing() -> None:
    c = ReceiptCoalescer(0.5)
    c.add({"a": {"s1"}})
    taken = c.due(1.0)
    c.restore(taken)  # building it failed: pending again, due one interval on
    assert c.due(1.2) == {} and c.due(1.5) == {"a": {"s1"}}
    c.add({"a": set(), "b": {"s2"}})
    assert c.drain() == {"a": set(), "b": {"s2"}}  # at shutdown, due or not
    assert len(c) == 0


def test_zero_interval_is_one_receipt_per_batch() -> None:
    c = ReceiptCoalescer(0)
    for t in (1.0, 1.0, 1.0):
        c.add({"a": set()})
        assert c.due(t) == {"a": set()}


def test_a_stream_gets_few_receipts_and_the_last_covers_it_all(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-coal")
    dev.register(db_session)
    db_session.commit()
    worker = start_worker(receipt_interval_s=0.5, batch_size=5)
    wire = wire_factory(topics.rcpt("hh-coal"))
    pk = worker.hub_key.public_key

    def seqs() -> list[int]:
        return [command.open_receipt(p, pk)["seq"] for p in wire.messages(topics.rcpt("hh-coal"))]

    events = [dev.event("heartbeat", {"n": i}) for i in range(300)]
    wire.publish_all(events)  # nothing follows the last one: a timer sends its receipt
    wait_until("a receipt stored through 300", lambda: 300 in seqs(), timeout=30)
    assert worker.stats.batches >= 60  # at most 5 a batch: one receipt each used to follow
    got = seqs()
    assert got == sorted(got) and len(got) < worker.stats.batches // 4
