"""Media reassembly: shuffled and duplicated chunks, receipts with missing chunks, restarts."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable

from sqlalchemy.orm import Session

from hub.ingest.processor import Processor
from hub.ingest.worker import IngestWorker
from hub.media.models import Blob
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from protocol import command, topics
from tests.builders.devices import TestDevice
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

SIZE = 5 * 16384 + 1234  # six chunks, the last one short


def _receipts(wire: MqttObserver, dev: str, hub_pk: bytes) -> list[dict[str, object]]:
    return [command.open_receipt(p, hub_pk) for p in wire.messages(topics.rcpt(dev))]


def test_shuffled_duplicated_chunks_receipt_and_restart_mid_blob(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-media")
    dev.register(db_session)
    db_session.commit()
    data = os.urandom(SIZE)
    sha = hashlib.sha256(data).hexdigest()
    frames = dev.chunks(data)
    assert len(frames) == 6
    rng = random.Random(3)
    first_part = [frames[i] for i in (4, 0, 2, 0, 4, 5)]  # 1 and 3 missing, duplicates
    rng.shuffle(first_part)

    worker = start_worker()
    wire = wire_factory(topics.rcpt("hh-media"))
    pk = worker.hub_key.public_key
    wire.publish(*dev.event("report", {"text": "photo"}, blobs=[dev.media(data)]))
    wire.publish_all(first_part)
    wait_until(
        "a receipt listing chunks 1 and 3 missing",
        lambda: any(r["blobs"] == {sha: [1, 3]} for r in _receipts(wire, "hh-media", pk)),
    )
    assert all(r["seq"] == 1 for r in _receipts(wire, "hh-media", pk))
    assert not store.exists(sha)
    assert store.partial_path(sha).stat().st_size == SIZE

    worker.stop()  # the hub restarts mid-blob: progress is in the database and the partial file
    worker = start_worker()
    wire.publish_all([frames[3], frames[1], frames[3]])
    wait_until(
        "a receipt with the blob complete",
        lambda: any(r["blobs"] == {sha: []} for r in _receipts(wire, "hh-media", pk)),
    )
    assert store.exists(sha) and not store.partial_path(sha).exists()
    with store.open(sha) as handle:
        assert handle.read() == data
    assert store.path(sha).relative_to(store.root).parts == (sha[:2], sha[2:4], sha)
    db_session.expire_all()
    blob = db_session.get(Blob, sha)
    assert blob is not None and blob.status == "complete" and blob.mime == "image/jpeg"


def test_tampered_chunk_fails_the_hash_and_is_requested_again(
    processor: Processor,
    db_session: Session,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-tamper")
    dev.register(db_session)
    db_session.commit()
    data = os.urandom(3 * 16384)
    sha = hashlib.sha256(data).hexdigest()
    frames = dev.chunks(data)
    topic, bad = frames[1]
    frames[1] = (topic, bad[:-1] + bytes([bad[-1] ^ 0xFF]))
    msgs = [dev.event("report", {"text": "x"}, blobs=[dev.media(data)]), *frames]
    result = processor.process([Inbound(t, p) for t, p in msgs])
    rcpt = command.open_receipt(result.outbound[-1].payload, processor.hub_key.public_key)
    assert rcpt["blobs"] == {sha: [0, 1, 2]}  # hash mismatch: start over
    result = processor.process([Inbound(t, p) for t, p in dev.chunks(data)])
    rcpt = command.open_receipt(result.outbound[-1].payload, processor.hub_key.public_key)
    assert rcpt["blobs"] == {sha: []} and store.exists(sha)


def test_chunks_of_an_unannounced_blob_are_rejected(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-nochunk")
    dev.register(db_session)
    db_session.commit()
    frames = dev.chunks(os.urandom(100))
    result = processor.process([Inbound(t, p) for t, p in frames])
    assert result.rejected == 1 and processor.tally.snapshot() == {"bad_blob": 1}


def test_receipt_fits_the_size_limit_with_many_missing_chunks(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-big")
    dev.register(db_session)
    db_session.commit()
    refs = [{"mime": "video/mp4", "sha256": f"{i:064x}", "size": 4000 * 16384} for i in range(16)]
    result = processor.process([Inbound(*dev.event("report", {"text": "v"}, blobs=refs))])
    (out,) = result.outbound
    assert len(out.payload) <= 16384
    rcpt = command.open_receipt(out.payload, processor.hub_key.public_key)
    assert len(rcpt["blobs"]) == 16
    assert all(m[:3] == [0, 1, 2] for m in rcpt["blobs"].values())  # type: ignore[index]


def test_receipt_fits_even_when_a_backlog_touches_hundreds_of_blobs(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-backlog")
    dev.register(db_session)
    db_session.commit()
    msgs = []
    for e in range(40):  # 40 envelopes x 16 blobs in one batch, as after a long outage
        refs = [
            {"mime": "image/jpeg", "sha256": f"{e * 16 + i + 1:064x}", "size": 50_000}
            for i in range(16)
        ]
        msgs.append(Inbound(*dev.event("report", {"text": "v"}, blobs=refs)))
    result = processor.process(msgs)
    (out,) = result.outbound
    assert len(out.payload) <= 16384
    rcpt = command.open_receipt(out.payload, processor.hub_key.public_key)
    assert rcpt["seq"] == 40 and 0 < len(rcpt["blobs"]) < 640
    assert all(missing for missing in rcpt["blobs"].values())  # partial blobs kept first
