"""Tables of the OTA domain: bundles (a sealed manifest and its files), rollouts, and one row
per device of a rollout (its stage and update state)."""

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
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class RolloutState(StrEnum):
    running = "running"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


class DeviceState(StrEnum):
    pending = "pending"  # in a later stage, not told yet
    queued = "queued"  # the ota command is queued
    downloading = "downloading"
    verified = "verified"
    updating = "updating"
    updated = "updated"
    failed = "failed"
    rolled_back = "rolled_back"


TERMINAL = frozenset({DeviceState.updated, DeviceState.failed, DeviceState.rolled_back})
FAILURES = frozenset({DeviceState.failed, DeviceState.rolled_back})
# told and not finished: the hub serves this device the bundle's files
IN_PROGRESS = (
    DeviceState.queued,
    DeviceState.downloading,
    DeviceState.verified,
    DeviceState.updating,
)


class Bundle(Base):
    """A verified bundle. ``id`` is the SHA-256 of the sealed manifest (what commands name)."""

    __tablename__ = "ota_bundles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(20), index=True)
    kinds: Mapped[list[str]] = mapped_column(JSON)
    hw: Mapped[list[str]] = mapped_column(JSON)
    min_hub: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[bytes] = mapped_column(LargeBinary)  # the sealed bytes, as signed
    files: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)  # the files' total bytes
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str | None] = mapped_column(String(120), default=None)


class BundleFile(Base):
    """One file of a bundle; its bytes are in the OTA store under ``sha256``."""

    __tablename__ = "ota_bundle_files"

    bundle_id: Mapped[str] = mapped_column(ForeignKey("ota_bundles.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(128), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)


class Rollout(Base):
    """A staged rollout of one bundle. ``target`` is the selector as given; ``excluded`` the
    devices it matched and left out, with the reason."""

    __tablename__ = "ota_rollouts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("ota_bundles.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=RolloutState.running, index=True)
    stage: Mapped[int] = mapped_column(Integer, default=0)
    stages: Mapped[list[int]] = mapped_column(JSON)
    auto_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    advance_success_percent: Mapped[int] = mapped_column(Integer)
    pause_failure_percent: Mapped[int] = mapped_column(Integer)
    pause_min_done: Mapped[int] = mapped_column(Integer)
    device_timeout_s: Mapped[int] = mapped_column(Integer)
    paused_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    excluded: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RolloutDevice(Base):
    """A device of a rollout: ``position`` in the deterministic order, the ``stage`` it is in,
    its update ``state``; ``event_seq`` is the seq of the last ``ota`` event applied (events
    apply in seq order), ``queued_at`` when its command was queued (the timeout counts from
    there). A terminal state is left only for a later terminal report: updated ->
    rolled_back, failed -> updated (a late success after a timeout)."""

    __tablename__ = "ota_rollout_devices"

    rollout_id: Mapped[str] = mapped_column(ForeignKey("ota_rollouts.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    stage: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=DeviceState.pending, index=True)
    reason: Mapped[str | None] = mapped_column(String(120), default=None)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    command_id: Mapped[str | None] = mapped_column(String(40), default=None)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # failed or rolled back since the rollout was last resumed: only such a failure pauses it
    fresh_failure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
