"""Tables of the workers domain: PIN records, sign-in sessions, the check of each event that
names a worker, failed sign-ins, and the worker list each handheld holds.

Workers themselves and their grids are ``hub.areas.models.Worker`` / ``WorkerGrid``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class WorkerPin(Base):
    """A worker's PIN, salted and slow-hashed (protocol/pin.py: PBKDF2-HMAC-SHA256). The PIN
    itself is never stored; the record is what the grid's handhelds get to check it."""

    __tablename__ = "worker_pins"

    worker_id: Mapped[str] = mapped_column(
        ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True
    )
    salt_hex: Mapped[str] = mapped_column(String(64))
    iterations: Mapped[int] = mapped_column(Integer)
    hash_hex: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(120))


class WorkerSession(Base):
    """A sign-in on a handheld, from its ``signin`` event to its ``signout`` (worker, idle,
    replaced, removed) or open (``end_seq`` None). Rebuilt from the device's sign events, in
    chain order, whenever one arrives (``hub.workers.sessions``)."""

    __tablename__ = "worker_sessions"
    __table_args__ = (
        Index("ix_worker_sessions_device_start", "device_id", "start_seq"),
        Index("ix_worker_sessions_worker_start", "worker_id", "started_ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    worker_id: Mapped[str] = mapped_column(String(64))
    grid_code: Mapped[str | None] = mapped_column(String(14), default=None)
    # the worker serves this grid (hub.areas WorkerGrid) at sign-in time
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    start_seq: Mapped[int] = mapped_column(BigInteger)
    started_ts: Mapped[int] = mapped_column(BigInteger)  # Unix seconds, the device's signed ts
    end_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    ended_ts: Mapped[int | None] = mapped_column(BigInteger, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(16), default=None)


class WorkerCheck(Base):
    """Whether the worker an event names was signed in on that device when it was made:
    ``signed_in``, ``not_signed_in`` (flagged), ``not_on_grid`` (signed in, but the hub does
    not list the worker for the grid: flagged) or ``anonymous`` (no worker named)."""

    __tablename__ = "worker_checks"
    __table_args__ = (Index("ix_worker_checks_device_seq", "device_id", "seq", unique=True),)

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    worker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), index=True)


class SigninFailure(Base):
    """A wrong PIN typed on a handheld (its ``signin`` event with ok false): counted per
    device and worker id; ``locked`` when the device locked the id out."""

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_device_seq", "device_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    ts: Mapped[int] = mapped_column(BigInteger)
    fails: Mapped[int] = mapped_column(Integer, default=1)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)


class DeviceWorkerList(Base):
    """The worker list version a handheld holds (its heartbeat's ``workers`` or the ack of a
    ``workers`` command, ``applied <version>``)."""

    __tablename__ = "device_worker_lists"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # a list version the handheld failed to apply (its ack said why): not sent again
    refused: Mapped[str | None] = mapped_column(String(64), default=None)
