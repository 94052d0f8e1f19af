"""Key rotation on the hub: a ``key`` event signed by the current key switches the device's
key; the old one still verifies events, acks and states for ``key_rotation_overlap_s``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.commands import service as commands
from hub.devices.models import Device
from hub.errors import InvalidInputError
from hub.events.models import Event
from hub.ingest.processor import BatchResult, Processor
from hub.mqtt_messages import Inbound
from hub.settings import Settings
from protocol import crypto
from tests.builders.devices import TestDevice

GRID = "33010200100101"


def feed(processor: Processor, messages: list[tuple[str, bytes]]) -> BatchResult:
    return processor.process([Inbound(t, p) for t, p in messages])


def device(db_session: Session, device_id: str) -> Device:
    db_session.expire_all()
    row = db_session.get(Device, device_id)
    assert row is not None
    return row


def rotate(dev: TestDevice) -> tuple[tuple[str, bytes], bytes, bytes]:
    """The device's ``key`` event (signed by its old key) and its (old, new) seeds; from now
    on ``dev`` signs with the new one."""
    old, new = dev.seed, crypto.new_seed()
    msg = dev.event("key", {"pub": bytes(crypto.public_key(new)).hex()})
    dev.seed = new
    return msg, old, new


def test_rotation_switches_the_key_and_the_old_one_verifies_for_the_overlap(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-rot")
    dev.register(db_session, GRID)
    db_session.commit()
    old_pub = dev.public_key.hex()
    feed(processor, [dev.birth(), dev.event("heartbeat", {"n": 1})])
    key_msg, old, _new = rotate(dev)
    # the key event and the first event under the new key in one batch
    result = feed(processor, [key_msg, dev.event("heartbeat", {"n": 3})])
    assert (result.stored, result.rejected) == (2, 0)
    row = device(db_session, "hh-rot")
    assert row.public_key == dev.public_key.hex() and row.previous_public_key == old_pub
    overlap = timedelta(seconds=settings.key_rotation_overlap_s)
    assert row.previous_key_until == clock.now() + overlap
    # within the overlap the old key still verifies an event (one the device signed before it
    # switched, delivered late) and a will of its old connection
    late = TestDevice("hh-rot", now=dev.now, seed=old, seq=dev.seq, prev=dev.prev, session=1)
    late_event = late.event("heartbeat", {"n": 4})
    dev.seq, dev.prev = late.seq, late.prev
    clock.advance(overlap - timedelta(seconds=1))
    result = feed(processor, [late_event, late.will()])
    assert (result.stored, result.states, result.rejected) == (1, 1, 0)
    # after it, only the new key verifies
    clock.advance(timedelta(seconds=2))
    late.seq, late.prev = dev.seq, dev.prev
    result = feed(processor, [late.event("heartbeat", {"n": 5}), late.birth(session=2)])
    assert (result.stored, result.rejected) == (0, 2)
    assert processor.tally.snapshot() == {"bad_signature": 2}
    result = feed(processor, [dev.event("heartbeat", {"n": 5}), dev.birth(session=3)])
    assert (result.stored, result.states, result.rejected) == (1, 1, 0)
    # the key event is kept as the audit trail, and never makes a case
    kinds = [e.kind for e in db_session.scalars(select(Event).order_by(Event.seq))]
    assert kinds == ["heartbeat", "key", "heartbeat", "heartbeat", "heartbeat"]
    assert db_session.scalars(select(Case)).all() == []
    assert device(db_session, "hh-rot").last_seq == 5


def test_a_key_event_naming_the_current_key_is_a_no_op(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    """The device re-emits its key event after a power cut between staging and renaming the
    key: signed by the old key, it names the key the hub already switched to."""
    dev = device_factory("gate-rot", "access")
    dev.register(db_session)
    db_session.commit()
    key_msg, old, new = rotate(dev)
    feed(processor, [key_msg])
    before = device(db_session, "gate-rot")
    until = before.previous_key_until
    again = TestDevice("gate-rot", now=dev.now, seed=old, seq=dev.seq, prev=dev.prev)
    re_emitted = again.event("key", {"pub": bytes(crypto.public_key(new)).hex()})
    result = feed(processor, [re_emitted])
    assert (result.stored, result.rejected) == (1, 0)
    row = device(db_session, "gate-rot")
    assert row.public_key == bytes(crypto.public_key(new)).hex()
    assert row.previous_public_key == bytes(crypto.public_key(old)).hex()
    assert row.previous_key_until == until


def test_bad_key_events_are_rejected_and_change_nothing(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-badkey")
    dev.register(db_session, GRID)
    db_session.commit()
    pub = dev.public_key.hex()
    bad_bodies = [
        {"pub": "AB" * 32},  # upper case
        {"pub": "ab" * 31},  # short
        {"pub": "ab" * 32, "extra": 1},
        {},
    ]
    result = feed(processor, [dev.event("key", body, advance=False) for body in bad_bodies])
    assert (result.stored, result.rejected) == (0, 4)
    assert processor.tally.snapshot() == {"malformed": 4}
    # after a rotation, the previous key may not rotate again (it only verifies, for a while)
    key_msg, old, _new = rotate(dev)
    feed(processor, [key_msg])
    thief = TestDevice("hh-badkey", now=dev.now, seed=old, seq=dev.seq, prev=dev.prev)
    third = bytes(crypto.public_key(crypto.new_seed())).hex()
    result = feed(processor, [thief.event("key", {"pub": third})])
    assert result.rejected == 1 and processor.tally.snapshot()["bad_signature"] == 1
    row = device(db_session, "hh-badkey")
    assert row.public_key == dev.public_key.hex() and row.previous_public_key == pub


def test_rotate_key_is_an_op_of_every_kind_without_args(
    db_session: Session, clock: FrozenClock, device_factory: Callable[..., TestDevice]
) -> None:
    for device_id, kind in (("hh-op", "handheld"), ("gate-op", "access"), ("face-op", "face")):
        device_factory(device_id, kind).register(db_session)
        cmd = commands.enqueue(
            db_session=db_session, device_id=device_id, op="rotate_key", args={}, clock=clock
        )
        assert cmd.op == "rotate_key" and cmd.args == {}
    with pytest.raises(InvalidInputError, match="rotate_key takes no args"):
        commands.enqueue(
            db_session=db_session, device_id="hh-op", op="rotate_key", args={"x": 1}, clock=clock
        )
