"""API schemas of the events domain: events, rejection counters, hash-chain gaps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    seq: int
    kind: str
    ts: int
    captured_at: datetime
    received_at: datetime
    historical: bool
    grid_code: str | None
    body: dict[str, Any]
    blobs: list[dict[str, Any]]
    digest: str
    prev: str
    chain: str


class RejectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reason: str
    count: int
    last_at: datetime | None
    last_device_id: str | None
    last_detail: str | None


class ChainGapRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    kind: str
    from_seq: int
    to_seq: int
    detected_at: datetime
    resolved_at: datetime | None
    detail: str | None
