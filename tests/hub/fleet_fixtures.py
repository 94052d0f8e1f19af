"""A small fleet for the fleet tests: street A's handheld and gate, street B's handheld, their
births and heartbeats and the handheld's patrol track, all through the real ingest path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from tests.builders.devices import TestDevice
from tests.hub.builders import GRID, GRID_LAT, GRID_LON, OTHER_STREET_GRID

WORKER_A = "w00100101"  # serves GRID (street A)
WORKER_B = "w00200101"  # serves OTHER_STREET_GRID (street B)


@dataclass
class Fleet:
    handheld: TestDevice  # street A, GRID
    gate: TestDevice  # street A, GRID
    other: TestDevice  # street B
    track: list[list[int]]  # the handheld's fixes today


def feed(processor: Processor, messages: list[tuple[str, bytes]]) -> None:
    processor.process([Inbound(t, p) for t, p in messages])


def make_fleet(
    db_session: Session,
    processor: Processor,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
) -> Fleet:
    handheld = device_factory("hh-a1")
    gate = device_factory("ac-a1", kind="access")
    other = device_factory("hh-b1")
    handheld.register(db_session, grid_code=GRID)
    gate.register(db_session, grid_code=GRID)
    other.register(db_session, grid_code=OTHER_STREET_GRID)
    db_session.commit()
    t0 = int(clock.now().timestamp())
    track = [
        [t0 + 60 * i, GRID_LAT + 300 * i, GRID_LON + (200 if i % 2 else -200) * i, 8]
        for i in range(12)
    ]
    feed(
        processor,
        [
            handheld.birth(fw="1.4.2"),
            gate.birth(fw="2.0.1"),
            other.birth(fw="1.4.2"),
            handheld.event("heartbeat", {"battery": 76, "outbox": 3, "storage_free": 900_000}),
            gate.event("heartbeat", {"battery": None, "outbox": 0, "storage_free": 4_000_000}),
            other.event("heartbeat", {"battery": 12, "outbox": 40, "storage_free": 1}),
            handheld.event("track", {"grid": GRID, "worker": WORKER_A, "points": track[:6]}),
            handheld.event("track", {"grid": GRID, "worker": WORKER_A, "points": track[6:]}),
            other.event(
                "track",
                {
                    "grid": OTHER_STREET_GRID,
                    "worker": WORKER_B,
                    "points": [[t0, 31_000_000, 120_000_000, 5]],
                },
            ),
        ],
    )
    clock.advance(timedelta(seconds=1))
    return Fleet(handheld=handheld, gate=gate, other=other, track=track)
