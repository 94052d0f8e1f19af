"""API schemas of the fleet overview and the patrol tracks."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class FleetDevice(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    name: str | None
    status: str
    grid_code: str | None
    community_code: str | None  # the grid's community
    online: bool
    last_seen: datetime | None  # the newest birth
    firmware: str | None
    battery: int | None  # percent, from the newest heartbeat
    outbox: int | None  # envelopes the device still holds for the hub (newest heartbeat)
    storage_free: int | None  # bytes of free flash (newest heartbeat)
    heartbeat_at: datetime | None  # when that heartbeat was taken (device clock)
    pending_commands: int  # queued, sent or delivered, not yet answered


class FleetPage(BaseModel):
    items: list[FleetDevice]
    total: int
    online: int  # of ``total``
    offset: int
    limit: int


class TrackPoint(BaseModel):
    at: datetime
    lat_e6: int
    lon_e6: int
    acc_m: int | None
    grid_code: str | None


class Track(BaseModel):
    worker_id: str
    day: date  # the hub's local day (GRIDLINK_WORK_UTC_OFFSET_MINUTES, Asia/Shanghai by default)
    points: list[TrackPoint]  # in time order
    truncated: bool  # more than MAX_POINTS fixes that day: the first MAX_POINTS are given
