"""Commands to devices and their delivery lifecycle."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class CommandStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    succeeded = "succeeded"
    failed = "failed"
    refused = "refused"
    expired = "expired"
    timed_out = "timed_out"


FINAL_STATUSES = frozenset(
    {
        CommandStatus.succeeded,
        CommandStatus.failed,
        CommandStatus.refused,
        CommandStatus.expired,
        CommandStatus.timed_out,
    }
)
OPEN_STATUSES = (CommandStatus.queued, CommandStatus.sent, CommandStatus.delivered)
# ``rotate_key``: the device makes a new key and announces it in a ``key`` event signed by the
# old one (docs/protocol.md); every kind takes it.
HANDHELD_OPS = frozenset(
    {"task", "verify", "notice", "workers", "config", "reboot", "ping", "rotate_key", "ota"}
)
# docs/access.md section 4; ``enrol`` only on face terminals
GATE_OPS = frozenset(
    {"open", "door_mode", "list_sync", "time_sync", "config", "reboot", "ping", "rotate_key", "ota"}
)
FACE_OPS = GATE_OPS | {"enrol"}
# Sent by the hub itself, never through the API: ``list_sync`` from the access lists
# (hub.commands.list_sync), ``ota`` from a firmware rollout (hub.ota.rollouts).
HUB_ONLY_OPS = {
    "list_sync": "the access lists: change the lists",
    "ota": "a firmware rollout",
    "workers": "the grid's workers and their PINs: change those",
}


class Command(Base):
    """One command. ``sealed`` is the signed bytes (re-sent unchanged on retry)."""

    __tablename__ = "commands"
    __table_args__ = (UniqueConstraint("device_id", "cseq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    cseq: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=CommandStatus.queued, index=True)
    detail: Mapped[str | None] = mapped_column(String(200), default=None)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    ack: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # the signed ack
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
