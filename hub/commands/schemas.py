"""API schemas of the commands domain, and the device detail that lists a device's commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.devices.schemas import DeviceRead


class CommandCreate(BaseModel):
    args: dict[str, Any] = Field(default_factory=dict)
    lifetime_s: int = Field(default=3600, ge=10, le=30 * 24 * 3600)


class CommandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    device_id: str
    cseq: int
    op: str
    args: dict[str, Any]
    status: str
    detail: str | None
    retries: int
    lifetime_s: int
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    acked_at: datetime | None
    created_by: str | None


class DeviceDetail(DeviceRead):
    commands: list[CommandRead] = []
