"""Request and response bodies of the workers API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PinSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(
        min_length=4,
        max_length=8,
        pattern=r"^[0-9]+$",
        description="4 to 8 digits; never stored, only its salted slow hash",
    )


class PinRead(BaseModel):
    worker_id: str
    set_at: datetime
    set_by: str
    iterations: int


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    worker_id: str
    grid_code: str | None
    listed: bool
    start_seq: int
    started_ts: int
    end_seq: int | None
    ended_ts: int | None
    end_reason: str | None


class SigninFailureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    seq: int
    worker_id: str
    ts: int
    fails: int
    locked: bool


class CheckRead(BaseModel):
    event_id: int
    device_id: str
    seq: int
    kind: str
    worker_id: str | None
    status: str
    grid_code: str | None
    ts: int
