"""The Device table: one row per field device identity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class DeviceKind(StrEnum):
    handheld = "handheld"
    access = "access"
    face = "face"
    barrier = "barrier"


class DeviceStatus(StrEnum):
    active = "active"
    revoked = "revoked"


_ACTIVE_HANDHELD = "kind = 'handheld' AND status = 'active' AND grid_code IS NOT NULL"


class Device(Base):
    """A device identity. ``public_key`` verifies everything it signs (hub never holds seeds).

    ``last_seq`` / ``chain_head`` describe the contiguous stored prefix of its event chain
    (what receipts acknowledge); ``max_seq`` is the highest seq stored at all;
    ``announced_seq`` the highest seq the device has shown the hub (a birth's ``seq``, any
    verified envelope). At revocation ``revoked_seq`` / ``revoked_head`` fix the watermark
    (docs/protocol.md, "Revocation"). After a key rotation ``previous_public_key`` still
    verifies until ``previous_key_until``. ``broker_disabled_at``: when the broker account was
    disabled (None while a revoked device's account still has to be).
    """

    __tablename__ = "devices"
    __table_args__ = (
        # "One grid, one device": at most one active handheld per grid.
        Index(
            "uq_devices_active_handheld_grid",
            "grid_code",
            unique=True,
            sqlite_where=text(_ACTIVE_HANDHELD),
            postgresql_where=text(_ACTIVE_HANDHELD),
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    public_key: Mapped[str] = mapped_column(String(64))  # Ed25519, 32 bytes hex
    status: Mapped[str] = mapped_column(String(16), default=DeviceStatus.active, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grids.code"), index=True, default=None
    )
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    firmware: Mapped[str | None] = mapped_column(String(64), default=None)
    hardware: Mapped[str | None] = mapped_column(String(64), default=None)  # a birth's ``hw``
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    session: Mapped[int] = mapped_column(BigInteger, default=0)  # newest session seen in a birth
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # stored through, contiguous
    chain_head: Mapped[str] = mapped_column(String(64), default="0" * 64)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    announced_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    revoked_head: Mapped[str | None] = mapped_column(String(64), default=None)
    broker_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    previous_public_key: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_key_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # From the newest heartbeat (by capture time): battery in percent (None: no battery or
    # not reported), the outbox backlog (envelopes not yet covered by a hub receipt), free
    # flash in bytes, and when that heartbeat was taken.
    battery: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    outbox: Mapped[int | None] = mapped_column(Integer, default=None)
    storage_free: Mapped[int | None] = mapped_column(BigInteger, default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def public_key_bytes(self) -> bytes:
        return bytes.fromhex(self.public_key)


class DevicePresence(Base):
    """One row per change of a device's online state (birth, will, revocation), written in the
    transaction that changes ``Device.online`` (``hub.devices.service.set_online``): the live
    feed's ``device`` events and the device's online history. ``grid_code`` is the binding
    at that time (scope). Rows older than ``hub.live`` keeps are deleted by its feed."""

    __tablename__ = "device_presence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    grid_code: Mapped[str | None] = mapped_column(String(14), default=None)
    online: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
