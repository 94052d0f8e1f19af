"""API schemas of the media domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class BlobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sha256: str
    size: int
    mime: str
    status: str
    total_chunks: int
    device_id: str | None
    grid_code: str | None
    created_at: datetime
    completed_at: datetime | None
