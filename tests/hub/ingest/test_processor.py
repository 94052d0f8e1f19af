"""The processing step without a broker: messages in, rows and counters out."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.events.models import ChainGap, Event
from hub.events.service import rejection_counts
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.settings import Settings
from protocol import command, topics
from tests.builders.devices import TestDevice
from tests.hub.ingest.streams import bad_input_stream


def feed(processor: Processor, messages: list[tuple[str, bytes]]) -> None:
    processor.process([Inbound(t, p) for t, p in messages])


def test_bad_input_stream_stores_exactly_the_valid_events(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    stream = bad_input_stream(db_session, clock, device_factory)
    for msg in stream.messages:  # one message per batch, as a slow trickle would arrive
        feed(processor, [msg])
    stored = {(e.device_id, e.seq) for e in db_session.scalars(select(Event))}
    assert stored == stream.valid
    assert rejection_counts(db_session=db_session) == stream.expected
    assert processor.tally.snapshot() == stream.expected


def test_bad_input_stream_in_one_batch(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    stream = bad_input_stream(db_session, clock, device_factory)
    feed(processor, stream.messages)
    stored = {(e.device_id, e.seq) for e in db_session.scalars(select(Event))}
    assert stored == stream.valid
    assert rejection_counts(db_session=db_session) == stream.expected


def test_chain_gap_recorded_then_resolved_and_break_detected(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-chain")
    dev.register(db_session)
    db_session.commit()
    msgs = [dev.event("heartbeat", {"n": i}) for i in range(1, 6)]
    feed(processor, [msgs[0], msgs[3], msgs[4]])  # 2 and 3 missing
    device = db_session.get(Device, "hh-chain")
    assert device is not None and device.last_seq == 1 and device.max_seq == 5
    gaps = list(db_session.scalars(select(ChainGap)))
    assert [(g.kind, g.from_seq, g.to_seq, g.resolved_at) for g in gaps] == [("gap", 2, 3, None)]
    feed(processor, [msgs[2], msgs[1]])
    db_session.expire_all()
    assert db_session.get(Device, "hh-chain").last_seq == 5  # type: ignore[union-attr]
    assert db_session.scalars(select(ChainGap)).one().resolved_at is not None
    assert {e.chain for e in db_session.scalars(select(Event))} == {"linked"}
    # a device whose history was cut: seq 6 claims a prev that is not seq 5's digest
    dev.prev = "ab" * 32
    feed(processor, [dev.event("heartbeat", {"n": 6})])
    broken = db_session.scalars(select(ChainGap).where(ChainGap.kind == "broken")).one()
    assert (broken.from_seq, broken.to_seq) == (5, 6)


def test_receipt_reports_stored_through(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-rcpt")
    dev.register(db_session)
    db_session.commit()
    msgs = [dev.event("heartbeat", {"n": i}) for i in range(3)]
    result = processor.process([Inbound(t, p) for t, p in [msgs[0], msgs[2]]])
    (out,) = result.outbound
    rcpt = command.open_receipt(out.payload, processor.hub_key.public_key)
    assert out.topic == "gl/v1/hh-rcpt/rcpt" and rcpt["seq"] == 1 and rcpt["blobs"] == {}


def test_two_processors_racing_on_the_same_events_store_each_once(
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    settings: Settings,
) -> None:
    import threading

    twin = Processor(
        processor.session_factory,
        processor.hub_key,
        processor.store,
        clock=processor.clock,
        settings=settings,
    )
    devs = [device_factory(f"hh-race-{i}") for i in range(3)]
    for dev in devs:
        dev.register(db_session)
    db_session.commit()
    msgs = [Inbound(*dev.event("heartbeat", {"n": n})) for n in range(40) for dev in devs]
    barrier = threading.Barrier(2)

    def run(p: Processor, order: list[Inbound]) -> None:
        barrier.wait()
        for i in range(0, len(order), 20):
            p.process(order[i : i + 20])

    threads = [
        threading.Thread(target=run, args=(processor, msgs)),
        threading.Thread(target=run, args=(twin, msgs)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    rows = db_session.execute(select(Event.device_id, Event.seq)).all()
    assert len(rows) == len(set(rows)) == 120
    totals = processor.tally.snapshot()
    for reason, n in twin.tally.snapshot().items():
        totals[reason] = totals.get(reason, 0) + n
    assert totals == {"duplicate": 120}
    db_session.expire_all()
    assert {db_session.get(Device, d.device_id).last_seq for d in devs} == {40}  # type: ignore[union-attr]


def test_a_database_error_is_retried_without_double_counting(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import OperationalError

    from hub.events import service as events_service

    stream = bad_input_stream(db_session, clock, device_factory)
    real = events_service.existing_digests
    calls = []

    def flaky(**kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(events_service, "existing_digests", flaky)
    feed(processor, stream.messages)
    stored = {(e.device_id, e.seq) for e in db_session.scalars(select(Event))}
    assert stored == stream.valid
    assert rejection_counts(db_session=db_session) == stream.expected
    assert len(calls) >= 2


def test_pathological_json_in_a_batch_loses_none_of_the_valid_events(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    """A lone surrogate, 5000-deep nesting and a giant integer are rejected one by one."""
    dev = device_factory("hh-json")
    dev.register(db_session)
    db_session.commit()
    valid = [dev.event("heartbeat", {"n": i}) for i in range(3)]
    evil = [
        (topics.evt("hh-evil", "report"), b'{"a":"\\ud800"}'),
        (topics.evt("hh-evil", "report"), b"[" * 5000 + b"]" * 5000),
        (topics.evt("hh-json", "report"), b'{"a":' + b"9" * 5000 + b"}"),
        (topics.state("hh-json"), b"[" * 5000 + b"]" * 5000),
    ]
    feed(processor, [valid[0], *evil[:2], valid[1], *evil[2:], valid[2]])
    assert [e.seq for e in db_session.scalars(select(Event).order_by(Event.seq))] == [1, 2, 3]
    counts = processor.tally.snapshot()
    assert counts.get("internal", 0) == 0
    assert counts["malformed"] + counts.get("non_canonical", 0) == 4


def test_a_lying_blob_size_cannot_block_the_real_blob(
    processor: Processor,
    db_session: Session,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
) -> None:
    liar, honest = device_factory("hh-liar"), device_factory("hh-honest")
    liar.register(db_session, grid_code="33010200100101")
    honest.register(db_session, grid_code="33010200100102")
    db_session.commit()
    data = os.urandom(2 * 16384 + 5)
    ref = honest.media(data)
    feed(processor, [liar.event("report", {"text": "x"}, blobs=[{**ref, "size": 7}])])
    feed(processor, [honest.event("report", {"text": "y"}, blobs=[ref]), *honest.chunks(data)])
    assert store.exists(ref["sha256"])
    assert store.path(ref["sha256"]).read_bytes() == data
