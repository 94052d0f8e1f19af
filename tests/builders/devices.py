"""A CPython stand-in for a field device: signs envelopes, chunks, births, wills and acks
exactly as the firmware does (through protocol/), so hub tests speak the real wire format."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from hub.areas.models import Area, Grid
from hub.clock import SystemClock
from hub.devices.models import Device, DeviceKind
from hub.devices.schemas import DeviceCreate
from hub.devices.service import register_device
from protocol import chunking, command, crypto, envelope, topics
from protocol.limits import CHUNK_SIZE, GENESIS

DISTRICT, STREET, COMMUNITY = "330102", "330102001", "330102001001"


def ensure_grid(db_session: Session, grid_code: str) -> Grid:
    """The grid (and its district / street / community) for tests that need just one grid."""
    codes = [grid_code[:6], grid_code[:9], grid_code[:12]]
    levels = ["district", "street", "community"]
    parent: str | None = None
    for code, level in zip(codes, levels, strict=True):
        if db_session.get(Area, code) is None:
            db_session.add(Area(code=code, level=level, name=f"{level} {code}", parent_code=parent))
            db_session.flush()
        parent = code
    grid = db_session.get(Grid, grid_code)
    if grid is None:
        grid = Grid(code=grid_code, name=f"grid {grid_code}", community_code=codes[2])
        db_session.add(grid)
        db_session.flush()
    return grid


@dataclass
class TestDevice:
    """One device identity with its own seq counter and hash chain."""

    __test__ = False  # not a pytest class

    device_id: str
    now: Callable[[], int]
    kind: str = "handheld"
    seed: bytes = field(default_factory=crypto.new_seed)
    seq: int = 0
    prev: str = GENESIS
    session: int = 0

    @property
    def public_key(self) -> bytes:
        return bytes(crypto.public_key(self.seed))

    def register(self, db_session: Session, grid_code: str | None = None) -> Device:
        if grid_code is not None:
            ensure_grid(db_session, grid_code)
        return register_device(
            db_session=db_session,
            data=DeviceCreate(
                id=self.device_id,
                kind=DeviceKind(self.kind),
                public_key=self.public_key.hex(),
                grid_code=grid_code,
            ),
            clock=SystemClock(),
        )

    def event(
        self,
        kind: str = "heartbeat",
        body: dict[str, Any] | None = None,
        blobs: list[dict[str, Any]] | tuple[()] = (),
        ts: int | None = None,
        seq: int | None = None,
        advance: bool = True,
    ) -> tuple[str, bytes]:
        """(topic, sealed bytes) of the next envelope; ``advance=False`` leaves the chain."""
        next_seq = seq if seq is not None else self.seq + 1
        env = envelope.build(
            self.device_id,
            next_seq,
            self.now() if ts is None else ts,
            kind,
            body if body is not None else {},
            blobs,
            self.prev,
        )
        data: bytes = envelope.seal(env, self.seed)
        if advance:
            self.seq, self.prev = next_seq, envelope.digest(data)
        topic = topics.ack(self.device_id) if kind == "ack" else topics.evt(self.device_id, kind)
        return topic, data

    def media(self, data: bytes, mime: str = "image/jpeg") -> dict[str, Any]:
        return {"mime": mime, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def chunks(self, data: bytes, chunk_size: int = CHUNK_SIZE) -> list[tuple[str, bytes]]:
        """Every chunk frame of ``data`` in order (callers shuffle / duplicate / drop)."""
        sha_raw = hashlib.sha256(data).digest()
        total = chunking.chunk_count(len(data), chunk_size)
        topic = topics.blob(self.device_id)
        return [
            (
                topic,
                chunking.pack_header(sha_raw, i, total)
                + data[i * chunk_size : (i + 1) * chunk_size],
            )
            for i in range(total)
        ]

    def birth(self, session: int | None = None, fw: str = "test-1.0") -> tuple[str, bytes]:
        if session is None:
            self.session += 1
            session = self.session
        data = command.seal_state(self.device_id, True, session, self.now(), self.seed, fw)
        return topics.state(self.device_id), data

    def will(self, session: int | None = None) -> tuple[str, bytes]:
        session = self.session if session is None else session
        data = command.seal_state(self.device_id, False, session, self.now(), self.seed)
        return topics.state(self.device_id), data

    def ack(self, cmd: dict[str, Any] | None, status: str, detail: str = "") -> tuple[str, bytes]:
        return self.event("ack", command.ack_body(cmd, status, detail))
