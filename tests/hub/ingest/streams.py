"""The bad-input stream shared by the processor test and the broker test."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.commands.service import revoke_device
from hub.ingest.state import handle_states
from hub.mqtt_messages import Inbound
from protocol import canonical, command, envelope, sealed, topics
from tests.builders.devices import TestDevice

GRID = "33010200100101"


@dataclass
class Stream:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    valid: set[tuple[str, int]] = field(default_factory=set)
    expected: dict[str, int] = field(default_factory=dict)

    def ok(self, dev: TestDevice, msg: tuple[str, bytes]) -> None:
        self.messages.append(msg)
        self.valid.add((dev.device_id, dev.seq))

    def bad(self, reason: str, msg: tuple[str, bytes]) -> None:
        self.messages.append(msg)
        self.expected[reason] = self.expected.get(reason, 0) + 1


def flip_body_bit(data: bytes, needle: bytes) -> bytes:
    at = data.index(needle)
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def birth_announcing(dev: TestDevice, seq: int) -> tuple[str, bytes]:
    """A birth that announces ``seq`` (the highest seq the device has assigned), sealed as
    the firmware does (``protocol.command.seal_state(..., seq=)``)."""
    dev.session += 1
    state = {"v": 1, "dev": dev.device_id, "online": True, "session": dev.session}
    state.update(ts=dev.now(), seq=seq)
    return topics.state(dev.device_id), sealed.seal(state, dev.seed, command.STATE_DOMAIN)


def announce(db_session: Session, dev: TestDevice, clock: FrozenClock) -> None:
    """Apply ``dev``'s birth announcing its current seq, as the ingest worker would."""
    topic, data = birth_announcing(dev, dev.seq)
    handle_states(
        db_session=db_session,
        msgs=[(dev.device_id, Inbound(topic, data))],
        at=clock.now(),
        reject=lambda reason, _dev, detail: pytest.fail(f"{reason}: {detail}"),
    )


def bad_input_stream(
    db_session: Session, clock: FrozenClock, make: Callable[..., TestDevice]
) -> Stream:
    a, b, r, u = make("hh-a"), make("gate-b", "access"), make("hh-r"), make("hh-unknown")
    a.register(db_session, GRID)
    b.register(db_session, None)
    r.register(db_session, None)
    db_session.commit()
    s = Stream()
    s.ok(a, a.event("report", {"text": "hello", "category": "litter"}))
    first = s.messages[-1]
    s.ok(a, a.event("heartbeat", {"bat": 90}))
    s.ok(b, b.event("pass", {"via": "card"}))
    # signed before revocation and announced in a birth (not yet received): stays valid
    s.ok(r, r.event("heartbeat", {"bat": 80}))
    # tampered: one bit of a stored event's body flipped (still canonical JSON)
    topic, data = a.event("report", {"text": "pothole"}, advance=True)
    s.valid.add((a.device_id, a.seq))
    s.bad("bad_signature", (topic, flip_body_bit(data, b"pothole")))
    s.messages.append((topic, data))  # ...and the genuine one right after it
    # replayed: seq 2 again with different content, validly signed
    s.bad("replayed", a.event("heartbeat", {"bat": 10}, seq=2, advance=False))
    s.bad("duplicate", first)  # a QoS 1 redelivery: idempotent, counted apart
    s.bad("unknown_device", u.event("report", {"text": "who am i"}))
    s.bad("malformed", (topics.evt("hh-a", "report"), b'{"v":1,"dev":'))
    t2, d2 = a.event("report", {"text": "spaces"}, advance=False)
    s.bad("non_canonical", (t2, json.dumps(canonical.loads(d2)).encode()))
    big = envelope.build("hh-a", a.seq + 1, a.now(), "report", {"text": "x" * 40000}, (), a.prev)
    s.bad("oversize", (topics.evt("hh-a", "report"), sealed.seal(big, a.seed, envelope.DOMAIN)))
    s.bad("clock_skew", a.event("report", {"text": "future"}, ts=a.now() + 3600, advance=False))
    s.bad("malformed", (topics.evt("gate-b", "report"), a.event("report", advance=False)[1]))
    s.bad("bad_device_id", ("gl/v1/bad!id/evt/report", first[1]))
    s.ok(b, b.event("pass", {"via": "face"}))
    s.ok(a, a.event("heartbeat", {"bat": 89}))
    # revocation: R's key is revoked now at the watermark of its birth (seq 1); what it
    # signs from now on is rejected, whatever its ts
    announce(db_session, r, clock)
    clock.advance(timedelta(seconds=5))
    revoke_device(db_session=db_session, device_id="hh-r", reason=None, clock=clock)
    db_session.commit()
    clock.advance(timedelta(seconds=5))
    s.bad("revoked", r.event("report", {"text": "stolen device"}))
    s.bad("revoked", r.event("report", {"text": "backdated"}, ts=r.now() - 600))
    s.ok(b, b.event("pass", {"via": "qr"}))
    return s
