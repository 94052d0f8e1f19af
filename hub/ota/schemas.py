"""API shapes of the OTA domain (docs/ota.md, "API")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol import bundle

DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AreaCode = Annotated[str, StringConstraints(pattern=r"^(\d{4}|\d{6}|\d{9}|\d{12})$")]
STATE_NAMES = ("pending", "queued", *bundle.STATES)  # the hub's two, then the device's


class BundleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    version: str
    kinds: list[str]
    hw: list[str]
    files: int
    size: int
    uploaded_at: datetime


class DevicesTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: list[DeviceId] = Field(min_length=1, max_length=10000)


class AreaTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area: AreaCode


class AllTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: Literal[True]


class RolloutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    target: DevicesTarget | AreaTarget | AllTarget
    stages: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [10, 100], min_length=1, max_length=20
    )
    auto_advance: bool = False
    advance_success_percent: int = Field(default=90, ge=0, le=100)
    pause_failure_percent: int = Field(default=20, ge=1, le=100)
    pause_min_done: int = Field(default=1, ge=1, le=100000)
    device_timeout_s: int = Field(default=900, ge=60, le=7 * 24 * 3600)


class RolloutDeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    stage: int
    state: str
    reason: str | None
    done: int
    total: int
    updated_at: datetime


class Excluded(BaseModel):
    device_id: str
    reason: str


class RolloutOut(BaseModel):
    id: str
    bundle: str
    version: str
    state: Literal["running", "paused", "completed", "cancelled"]
    stage: int
    stages: list[int]
    auto_advance: bool
    paused_reason: str | None
    total: int
    counts: dict[str, int]
    devices: list[RolloutDeviceOut]
    excluded: list[Excluded]
    created_at: datetime
