"""Property-based fuzz of the ingest path: mutated envelopes, chunk frames and state messages
mixed into batches of valid traffic and fed to the real ``Processor`` (real SQLite, no broker).

For every batch: nothing escapes ``process``; every message is counted exactly once
(``BatchResult.handled == len(batch)``); every valid message around the bad ones is stored (its
event row exists, its blob is complete, its birth applied).

200 examples in the normal run (a few seconds); ``GRIDLINK_FUZZ_EXAMPLES`` raises it
(``make fuzz``: 5,000).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.devices.models import Device
from hub.events.models import Event
from hub.ingest.processor import Processor
from hub.media.models import Blob, BlobStatus
from hub.mqtt_messages import Inbound
from protocol import command, envelope, sealed
from protocol.limits import CHUNK_SIZE
from tests.builders.devices import TestDevice

EXAMPLES = int(os.environ.get("GRIDLINK_FUZZ_EXAMPLES", "200"))
GRID = "33010200100101"

Message = tuple[str, bytes]

FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just("ab" * 32),
    st.just([{"sha256": "cd" * 32, "size": 2**40, "mime": "image/jpeg"}]),
)
TOPICS = st.one_of(
    st.sampled_from(
        [
            "gl/v1/hh-a/evt/heartbeat",
            "gl/v1/hh-a/evt/report",
            "gl/v1/hh-a/ack",
            "gl/v1/hh-a/blob",
            "gl/v1/hh-a/state",
            "gl/v1/hh-a/cmd",
            "gl/v1/hh-a/rcpt",
            "gl/v1/hub/state",
            "gl/v1/hh-m/evt/Bad-Kind",
            "gl/v1/hh-nobody/evt/heartbeat",
            "gl/v1/+/evt/#",
            "gl/v2/hh-m/evt/heartbeat",
            "",
            "/",
            "gl/v1/" + "x" * 300 + "/evt/heartbeat",
        ]
    ),
    st.text(max_size=40),
)


def _json_or_none(payload: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


HOW = [
    "bitflip",
    "truncate",
    "extend",
    "delete_field",
    "retype_field",
    "retype_resigned",
    "topic",
    "huge",
    "non_utf8",
    "nested",
    "garbage",
]
# One mutation, drawn without looking at the message (so hypothesis sees the same draws on a
# replay whatever the bytes): what to do and its parameters, positions taken modulo the length.
MUTATION = st.tuples(
    st.sampled_from(HOW),
    st.integers(0, 2**16),
    st.integers(0, 7),
    st.binary(min_size=1, max_size=64),
    FIELD_VALUES,
    TOPICS,
    st.sampled_from([40_000, 70_000, 300_000]),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]),
    st.sampled_from([50, 1000, 100_000]),
)
MUTANT = st.tuples(st.integers(0, 2**16), st.lists(MUTATION, min_size=1, max_size=3))


def mutate(msg: Message, plan: list[Any], resign: Callable[[dict[str, Any]], bytes]) -> Message:
    topic, payload = msg
    for how, pos, bit, extra, value, new_topic, size, bad_utf8, depth in plan:
        if how == "bitflip" and payload:
            at = pos % len(payload)
            payload = payload[:at] + bytes([payload[at] ^ (1 << bit)]) + payload[at + 1 :]
        elif how == "truncate":
            payload = payload[: pos % max(len(payload), 1)]
        elif how == "extend":
            payload += extra
        elif how in ("delete_field", "retype_field", "retype_resigned"):
            obj = _json_or_none(payload)
            if obj:
                key = sorted(obj)[pos % len(obj)]
                if how == "delete_field":
                    del obj[key]
                else:
                    obj[key] = value
                payload = _encode(obj)
                if how == "retype_resigned":
                    obj.pop("sig", None)
                    try:
                        payload = resign(obj)  # validly signed: reaches the deeper checks
                    except Exception:  # noqa: BLE001 - not even sealable: keep it unsigned
                        pass
        elif how == "topic":
            topic = new_topic
        elif how == "huge":
            payload += b" " * size
        elif how == "non_utf8":
            at = pos % (len(payload) + 1)
            payload = payload[:at] + bad_utf8 + payload[at:]
        elif how == "nested":
            payload = b'{"a":' * depth + b"1" + b"}" * depth
        else:
            payload = extra
    return topic, payload


class World:
    """Devices with their own chains: ``a`` (a handheld in a grid) and ``b`` (a gate) send the
    valid traffic; the mutants are made from the messages of ``m`` (registered, so re-signed
    mutants pass the signature check), from chunks of a decoy blob, and from replays."""

    def __init__(self, db_session: Session, make: Callable[..., TestDevice]) -> None:
        self.a, self.b, self.m = make("hh-a"), make("gate-b", "access"), make("hh-m")
        self.a.register(db_session, GRID)
        self.b.register(db_session, None)
        self.m.register(db_session, None)
        db_session.commit()
        self.history: list[Message] = []
        self.n = 0

    def resign(self, obj: dict[str, Any]) -> bytes:
        domain = command.STATE_DOMAIN if "online" in obj else envelope.DOMAIN
        data: bytes = sealed.seal(obj, self.m.seed, domain)
        return data


def _blob(n: int, tag: bytes) -> bytes:
    return (tag + n.to_bytes(4, "big")) * ((CHUNK_SIZE + 100) // (len(tag) + 4))  # 2 chunks


@pytest.fixture
def world(db_session: Session, device_factory: Callable[..., TestDevice]) -> World:
    return World(db_session, device_factory)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_bad_messages_never_crash_and_never_hide_good_ones(
    data: st.DataObject, processor: Processor, world: World, db_session: Session
) -> None:
    a, b, m = world.a, world.b, world.m
    world.n += 1
    photo, decoy = _blob(world.n, b"photo"), _blob(world.n, b"decoy")
    before = [
        a.event("heartbeat", {"n": world.n}),
        a.event("photo", {"n": world.n}, blobs=[a.media(photo), a.media(decoy)]),
        b.birth(),
    ]
    after = [*a.chunks(photo), a.event("heartbeat", {"n": -world.n}), b.event("pass", {})]
    sources = [
        m.event("report", {"text": "fuzz", "loc": {"lat_e6": 1, "lon_e6": 2, "acc_m": 3}}),
        m.event("ack", command.ack_body(None, "succeeded")),
        m.birth(),
        m.will(),
        *a.chunks(decoy),
        *(world.history[-3:] if world.history else []),
    ]
    mutants = data.draw(st.lists(MUTANT, min_size=1, max_size=3), label="mutants")
    bad = [mutate(sources[i % len(sources)], plan, world.resign) for i, plan in mutants]
    replay = data.draw(st.integers(0, 2**16), label="replay")
    if world.history:
        bad.append(world.history[replay % len(world.history)])
    batch = before + after
    for msg in bad:
        at = data.draw(st.integers(0, 2**16), label="at")
        batch.insert(at % (len(batch) + 1), msg)

    result = processor.process([Inbound(t, p) for t, p in batch])  # must not raise

    assert result.handled == len(batch), result
    db_session.expire_all()
    stored = set(
        db_session.execute(
            select(Event.device_id, Event.seq).where(Event.device_id.in_(["hh-a", "gate-b"]))
        )
    )
    assert {("hh-a", a.seq - 2), ("hh-a", a.seq - 1), ("hh-a", a.seq), ("gate-b", b.seq)} <= stored
    blob = db_session.get(Blob, a.media(photo)["sha256"])
    assert blob is not None and blob.status == BlobStatus.complete
    gate = db_session.get(Device, "gate-b")
    assert gate is not None and gate.online and gate.session == b.session
    world.history.extend(before + after)
