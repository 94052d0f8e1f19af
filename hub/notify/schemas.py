"""Pydantic schemas of liaisons and of the notification log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.notify.models import Channel, Delivery, DeliveryStatus, Liaison, Notification


class LiaisonCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    channel: Channel
    address: str = Field(min_length=3, max_length=500, description="URL or e-mail address")
    kinds: list[str] = Field(
        default_factory=list, max_length=16, description="kinds to receive; empty: all"
    )


class LiaisonUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    address: str | None = Field(default=None, min_length=3, max_length=500)
    kinds: list[str] | None = Field(default=None, max_length=16)
    active: bool | None = None


class LiaisonRead(BaseModel):
    id: int
    unit_id: int
    name: str
    channel: str
    address: str
    kinds: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Liaison) -> LiaisonRead:
        return cls(
            id=row.id,
            unit_id=row.unit_id,
            name=row.name,
            channel=row.channel,
            address=row.address,
            kinds=list(row.kinds or []),
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class LiaisonCreated(LiaisonRead):
    secret: str | None = Field(
        description="webhook signing secret (Standard Webhooks); shown only now"
    )


class SecretRead(BaseModel):
    liaison_id: int
    secret: str


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    ok: bool
    duration_ms: int
    detail: str


class DeliveryRead(BaseModel):
    id: int
    liaison_id: int | None
    channel: str
    address: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    log: list[AttemptRead] | None = None

    @classmethod
    def of(cls, row: Delivery, *, with_log: bool = False) -> DeliveryRead:
        return cls(
            id=row.id,
            liaison_id=row.liaison_id,
            channel=row.channel,
            address=row.address,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            log=[AttemptRead.model_validate(a) for a in row.attempt_log] if with_log else None,
        )


class NotificationRead(BaseModel):
    id: int
    kind: str
    unit_id: int | None
    case_id: int | None
    created_at: datetime
    subject: str
    deliveries: list[DeliveryRead]
    body: str | None = None
    data: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: Notification, *, full: bool = False) -> NotificationRead:
        return cls(
            id=row.id,
            kind=row.kind,
            unit_id=row.unit_id,
            case_id=row.case_id,
            created_at=row.created_at,
            subject=row.subject,
            deliveries=[DeliveryRead.of(d, with_log=full) for d in row.deliveries],
            body=row.body if full else None,
            data=row.data if full else None,
        )


class NotificationPage(BaseModel):
    total: int
    items: list[NotificationRead]
