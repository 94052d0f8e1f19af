"""Receipt coalescing: at most one receipt per device per interval, the last one never lost."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.events.models import Event
from hub.ingest.processor import Processor
from hub.ingest.receipts import RECEIPT_QOS, ReceiptCoalescer
from hub.ingest.worker import IngestWorker
from hub.media import service as media
from hub.mqtt_messages import Inbound
from protocol import command, topics
from tests.builders.devices import TestDevice
from tests.support.mosquitto import Mosquitto
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


def test_a_receipt_names_every_touched_blob_whatever_the_partial_ones() -> None:
    partial = [f"{i:02x}" * 32 for i in range(16)]  # sort before the touched one
    touched = "ff" * 32
    shas = media.receipt_shas({touched}, partial)
    assert touched in shas and len(shas) == 16  # the touched blob first, then partial ones
    assert media.receipt_shas({touched, partial[3]}, partial)[:2] == sorted({touched, partial[3]})
    many = {f"{i:02x}" * 32 for i in range(40, 60)}  # more touched than the limit: all of them
    assert set(media.receipt_shas(many, partial)) == many


def test_a_completed_blob_is_reported_beside_sixteen_partial_ones(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    """The receipt that answers a blob's last chunk says it is complete (missing []), so the
    device may free it, even while 16 older blobs of the device wait for chunks."""
    dev = device_factory("hh-rcpt-blobs")
    dev.register(db_session)
    db_session.commit()
    blobs = sorted((os.urandom(100 + i) for i in range(17)), key=lambda d: dev.media(d)["sha256"])
    *waiting, last = blobs  # the completed one has the highest sha: it sorts after the rest
    announce = [dev.event("report", {"text": "w"}, blobs=[dev.media(d)]) for d in waiting]
    processor.process([Inbound(t, p) for t, p in announce])
    msgs = [dev.event("report", {"text": "done"}, blobs=[dev.media(last)]), *dev.chunks(last)]
    result = processor.process([Inbound(t, p) for t, p in msgs])
    (out,) = result.outbound
    rcpt = command.open_receipt(out.payload, processor.hub_key.public_key)
    assert rcpt["seq"] == 17
    assert rcpt["blobs"][dev.media(last)["sha256"]] == []
    assert out.qos == RECEIPT_QOS == 1


def test_receipts_are_qos1_queued_for_a_device_away_and_its_birth_gets_one(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    broker: Mosquitto,
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    """The device's own account and persistent session: a receipt sent while it is away is
    queued for it (QoS 1) and arrives on reconnecting, and its birth brings the current one."""
    dev = device_factory("hh-away")
    dev.register(db_session)
    db_session.commit()
    worker = start_worker(receipt_interval_s=0)
    pk = worker.hub_key.public_key
    rcpt = topics.rcpt("hh-away")
    account = broker.device_account("hh-away")

    def device() -> MqttObserver:
        return MqttObserver(broker, (rcpt,), client_id="hh-away", clean=False, account=account)

    def stored() -> int:
        with session_factory() as s:
            return int(s.scalar(select(func.count(Event.id))) or 0)

    online = device().start()
    online.publish(*dev.event("heartbeat", {"n": 1}))
    msg = online.get_topic(rcpt)
    assert command.open_receipt(bytes(msg.payload), pk)["seq"] == 1
    assert msg.qos == 1
    online.stop()
    # while it is away (its backlog arrives late, e.g. through a second link): stored, and
    # the receipt for it goes out to no one
    # seen on the wire (receipts are published by the worker's receipt thread)
    other = wire_factory(rcpt)
    other.publish_all([dev.event("heartbeat", {"n": n}) for n in (2, 3)])
    wait_until("3 stored", lambda: stored() == 3)
    wait_until(
        "the receipt for 3 published",
        lambda: any(command.open_receipt(bytes(m), pk)["seq"] == 3 for m in other.messages(rcpt)),
    )
    back = device().start()
    try:
        other.publish(rcpt, b"sentinel")  # delivered after anything queued for the session
        wait_until("the sentinel", lambda: b"sentinel" in back.messages(rcpt))
        kept = back.messages(rcpt)
        assert kept[-1] == b"sentinel" and len(kept) >= 2  # the receipt was kept for it
        # the newest one kept says 3 (2 and 3 may have been stored, and answered, apart)
        assert command.open_receipt(bytes(kept[-2]), pk)["seq"] == 3
        back.publish(*dev.birth())
        wait_until("a receipt for the birth", lambda: len(back.messages(rcpt)) == len(kept) + 1)
        answer = back.all[-1]
        assert command.open_receipt(bytes(answer.payload), pk)["seq"] == 3
        assert answer.qos == 1
    finally:
        back.stop()
