"""Events (unique on device + seq), rejection counters and hash-chain gaps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class ChainStatus(StrEnum):
    pending = "pending"  # the previous seq is not stored yet
    linked = "linked"  # prev equals the digest of the stored previous envelope (or genesis)
    broken = "broken"  # prev does not match: something was altered or deleted


class Event(Base):
    """A verified envelope as received. ``raw`` is the exact sealed bytes (re-verifiable)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[int] = mapped_column(BigInteger, index=True)  # capture time, Unix seconds (signed)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())  # ``ts`` as a datetime
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    historical: Mapped[bool] = mapped_column(Boolean, default=False)
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True, default=None)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    blobs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of ``raw``: the next event's prev
    prev: Mapped[str] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(16), default=ChainStatus.pending)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class RejectionCounter(Base):
    """How many messages were rejected per reason and device (``duplicate`` counted too, not an
    error). ``device_id`` is the device the message named, ``""`` when it named none; scoped
    readers see the rows of devices bound inside their area only."""

    __tablename__ = "rejection_device_counters"

    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_detail: Mapped[str | None] = mapped_column(String(200), default=None)


class ChainGapKind(StrEnum):
    gap = "gap"  # seqs from_seq..to_seq missing (so far)
    broken = "broken"  # event to_seq's prev does not match event from_seq's digest


class ChainGap(Base):
    """A hole or break in a device's hash chain; a gap is resolved when the seqs arrive."""

    __tablename__ = "chain_gaps"
    __table_args__ = (UniqueConstraint("device_id", "kind", "from_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_seq: Mapped[int] = mapped_column(BigInteger)
    to_seq: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    detail: Mapped[str | None] = mapped_column(String(200), default=None)
