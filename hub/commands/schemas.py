"""API schemas of the commands domain, and the device detail that lists a device's commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    @model_validator(mode="after")
    def _no_pin_records(self) -> CommandRead:
        """A ``workers`` list shows its version, grid and worker ids, never the PIN records
        (a salted PBKDF2 of a 4-8 digit PIN can still be searched)."""
        if self.op == "workers" and isinstance(self.args.get("workers"), dict):
            self.args = {**self.args, "workers": sorted(self.args["workers"])}
        return self


class DeviceDetail(DeviceRead):
    commands: list[CommandRead] = []
