"""Revocation that keeps history and cannot be backdated (docs/protocol.md, "Revocation").

The watermark is fixed from what the hub holds or was told; afterwards a seq above it is
rejected as ``revoked`` whatever its ``ts`` (also one backdated before the revocation), one at
or below it is kept when it links into the known chain. These run the real processor on SQLite.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.commands import service as commands
from hub.devices.models import Device
from hub.events.models import Event
from hub.events.service import rejection_counts
from hub.ingest.processor import BatchResult, Processor
from hub.media.models import Blob
from hub.mqtt_messages import Inbound
from tests.builders.devices import TestDevice
from tests.hub.ingest.streams import birth_announcing

GRID = "33010200100101"


def feed(processor: Processor, messages: list[tuple[str, bytes]]) -> BatchResult:
    return processor.process([Inbound(t, p) for t, p in messages])


def revoke(db_session: Session, clock: FrozenClock, device_id: str) -> Device:
    device = commands.revoke_device(
        db_session=db_session, device_id=device_id, reason="lost", clock=clock
    )
    db_session.commit()
    return device


def stored(db_session: Session, device_id: str) -> list[int]:
    rows = db_session.scalars(select(Event.seq).where(Event.device_id == device_id))
    return sorted(rows)


def test_later_messages_are_rejected_whatever_their_ts_even_backdated(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-lost")
    dev.register(db_session, GRID)
    db_session.commit()
    feed(processor, [dev.event("heartbeat", {"n": i}) for i in range(3)])
    before = int(clock.now().timestamp())
    clock.advance(timedelta(minutes=10))
    device = revoke(db_session, clock, "hh-lost")
    assert (device.revoked_seq, device.revoked_head) == (3, dev.prev)
    clock.advance(timedelta(seconds=30))
    result = feed(
        processor,
        [
            dev.event("report", {"text": "stolen", "category": "litter"}),
            dev.event("report", {"text": "backdated"}, ts=before - 60),  # before the revocation
            dev.event("report", {"text": "far back"}, ts=0, seq=99),
        ],
    )
    assert (result.stored, result.rejected) == (0, 3)
    assert stored(db_session, "hh-lost") == [1, 2, 3]
    assert rejection_counts(db_session=db_session) == {"revoked": 3}
    assert db_session.scalars(select(Case)).all() == []
    # a second revocation changes nothing, the watermark included
    clock.advance(timedelta(seconds=30))
    again = revoke(db_session, clock, "hh-lost")
    assert again.revoked_seq == 3 and again.revoked_at == device.revoked_at


def test_events_signed_and_queued_before_revocation_are_still_accepted(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    """The device assigned seqs 1..5; the hub stored 1..2 and the birth announced 5: 3..5
    arrive after the revocation (the hub's persistent session queued them) and are kept."""
    dev = device_factory("hh-patrol")
    dev.register(db_session, GRID)
    db_session.commit()
    msgs = [dev.event("heartbeat", {"n": 1}), dev.event("heartbeat", {"n": 2})]
    photo = os.urandom(40_000)
    queued = [
        dev.event("report", {"text": "pothole", "category": "litter"}, blobs=[dev.media(photo)]),
        dev.event("heartbeat", {"n": 4}),
        dev.event("heartbeat", {"n": 5}),
    ]
    feed(processor, [*msgs, birth_announcing(dev, 5)])
    device = revoke(db_session, clock, "hh-patrol")
    assert (
        device.revoked_seq == 5
        and device.max_seq == 2
        and device.revoked_head == stored_head(db_session, "hh-patrol", 2)
    )
    clock.advance(timedelta(seconds=5))
    result = feed(processor, [queued[2], queued[0], queued[1]])  # any order within the batch
    assert result.stored == 3 and result.rejected == 0
    # the evidence completes too: chunks of an accepted envelope's blob are still taken
    result = feed(processor, dev.chunks(photo))
    assert result.rejected == 0 and result.chunks == len(dev.chunks(photo))
    db_session.expire_all()
    blob = db_session.get(Blob, dev.media(photo)["sha256"])
    assert blob is not None and blob.status == "complete"
    assert stored(db_session, "hh-patrol") == [1, 2, 3, 4, 5]
    assert {e.chain for e in db_session.scalars(select(Event))} == {"linked"}
    assert len(db_session.scalars(select(Case)).all()) == 1  # the report was filed
    # a redelivery stays a harmless duplicate; the next seq is above the watermark
    result = feed(processor, [queued[1], dev.event("heartbeat", {"n": 6})])
    assert (result.duplicates, result.rejected) == (1, 1)
    assert rejection_counts(db_session=db_session) == {"duplicate": 1, "revoked": 1}


def stored_head(db_session: Session, device_id: str, seq: int) -> str:
    event = db_session.scalars(
        select(Event).where(Event.device_id == device_id, Event.seq == seq)
    ).one()
    return event.digest


def test_below_the_watermark_only_what_links_into_the_chain_is_kept(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    """Stored 1, 2 and 5 (3 and 4 in flight): a forged 3 or 4 (signed with the stolen key, any
    prev) cannot be slipped in; the real ones link (3 to 2, 4 to the stored 5) and are kept,
    even when 4 arrives first."""
    dev = device_factory("hh-gap")
    dev.register(db_session, GRID)
    db_session.commit()
    msgs = [dev.event("heartbeat", {"n": i}) for i in range(1, 6)]
    feed(processor, [msgs[0], msgs[1], msgs[4]])
    revoke(db_session, clock, "hh-gap")
    thief = TestDevice("hh-gap", now=dev.now, seed=dev.seed, seq=2, prev="ab" * 32)
    forged3 = thief.event("report", {"text": "forged"})
    forged4 = thief.event("report", {"text": "forged too"})
    result = feed(processor, [forged4, forged3])
    assert (result.stored, result.rejected) == (0, 2)
    assert processor.tally.snapshot() == {"revoked": 2}
    # nor a chain of its own grown from the real 2 into the gap: inside a gap only what
    # hashes into the stored successor fits (found by review: a left link was enough)
    from protocol import envelope

    grower = TestDevice(
        "hh-gap", now=dev.now, seed=dev.seed, seq=2, prev=envelope.digest(msgs[1][1])
    )
    result = feed(processor, [grower.event("report", {"text": "forged"})])
    assert (result.stored, result.rejected) == (0, 1)
    result = feed(processor, [msgs[3]])  # 4 first: its digest is the stored 5's prev
    assert result.stored == 1
    result = feed(processor, [msgs[2]])
    assert result.stored == 1
    assert stored(db_session, "hh-gap") == [1, 2, 3, 4, 5]
    db_session.expire_all()
    device = db_session.get(Device, "hh-gap")
    assert device is not None and device.last_seq == 5 and device.chain_head == dev.prev


def test_births_wills_and_acks_of_a_revoked_device(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-acks")
    dev.register(db_session, GRID)
    db_session.commit()
    feed(processor, [dev.birth()])
    cmd = commands.enqueue(
        db_session=db_session, device_id="hh-acks", op="ping", args={}, clock=clock
    )
    db_session.commit()
    cmd_id = cmd.id
    wire_cmd = {"id": cmd_id, "cseq": cmd.cseq}
    ack_before = dev.ack(wire_cmd, "succeeded")  # signed, not delivered yet; announced
    feed(processor, [birth_announcing(dev, dev.seq)])
    revoke(db_session, clock, "hh-acks")
    result = feed(processor, [dev.birth(), dev.will(), ack_before, dev.ack(wire_cmd, "failed")])
    assert result.states == 0 and result.stored == 1 and result.rejected == 3
    assert processor.tally.snapshot() == {"revoked": 3}
    db_session.expire_all()
    device = db_session.get(Device, "hh-acks")
    assert device is not None and device.online is False
    # the ack below the watermark stays in the chain, but never changes its command
    assert stored(db_session, "hh-acks") == [1]
    assert commands.get_command(db_session=db_session, command_id=cmd_id).status == "failed"


def test_the_watermark_counts_what_the_device_announced(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-ann")
    dev.register(db_session, GRID)
    db_session.commit()
    feed(processor, [birth_announcing(dev, 40)])
    hb = [dev.event("heartbeat", {"n": i}, seq=60 + i) for i in range(2)]  # stored, chain gap
    feed(processor, hb)
    feed(processor, [birth_announcing(dev, 50)])  # an older announcement never lowers it
    db_session.expire_all()
    device = db_session.get(Device, "hh-ann")
    assert device is not None and device.announced_seq == 61
    device = revoke(db_session, clock, "hh-ann")
    assert device.revoked_seq == 61
    # after the revocation the announcement no longer moves: a thief's birth changes nothing
    result = feed(processor, [birth_announcing(dev, 10_000)])
    assert result.rejected == 1
    db_session.expire_all()
    device = db_session.get(Device, "hh-ann")
    assert device is not None and (device.announced_seq, device.revoked_seq) == (61, 61)
