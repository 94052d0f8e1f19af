"""The liaisons of a unit and the notifications sent to them (an outbox with its delivery log).

A ``Notification`` is written in the transaction of the change it announces (a one-key report,
a dispatch...), with one ``Delivery`` per liaison of the unit; the sender (``hub.notify.sender``)
delivers the due ones and appends a ``DeliveryAttempt`` per try. Nothing is sent from inside a
transaction and nothing announced is lost when the hub stops: the rows wait for the next run.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime


class Channel(StrEnum):
    webhook = "webhook"  # an HTTPS POST signed per the Standard Webhooks spec
    email = "email"  # an e-mail through the hub's SMTP server


class NotificationKind(StrEnum):
    one_key_report = "one_key_report"  # 一键上报: a grid worker's urgent report
    dispatch = "dispatch"  # a case assigned to the unit, with its deadline
    escalation = "escalation"  # a case escalated up to the unit
    deadline_warning = "deadline_warning"  # the unit's deadline is near (预警)
    overdue = "overdue"  # the unit's deadline passed; the case went up a level
    supervision = "supervision"  # a supervision notice (督办) about the unit's case
    test = "test"  # sent from the API to check a liaison's address


class DeliveryStatus(StrEnum):
    pending = "pending"  # due at next_attempt_at
    delivered = "delivered"
    failed = "failed"  # given up: a permanent refusal or notify_max_attempts tries


class Liaison(Base):
    """A unit's contact for notifications: one channel and one address each."""

    __tablename__ = "liaisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))  # the URL or the e-mail address
    # webhook: the signing secret ("whsec_" + base64), shown once when made or rotated
    secret: Mapped[str | None] = mapped_column(String(80), default=None)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every kind
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """What was announced to a unit: the kind, the case, the text in Chinese and English."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL"), index=True, default=None
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True, default=None)  # scope
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # plain text, Chinese first, English beside it
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the webhook's "data"

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="notification", order_by="Delivery.id"
    )


class Delivery(Base):
    """One notification to one liaison: its state, attempts and the next try."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    liaison_id: Mapped[int | None] = mapped_column(
        ForeignKey("liaisons.id", ondelete="SET NULL"), index=True, default=None
    )
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))  # as it was when the notice was made
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # a sender working on it (another may take it over once this has passed)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)

    notification: Mapped[Notification] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.id"
    )


class DeliveryAttempt(Base):
    """The delivery log: one row per try, with what the receiver answered."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(500))  # "HTTP 200", "SMTP 250 ...", the error

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_log")
