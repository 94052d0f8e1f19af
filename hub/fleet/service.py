"""Reads behind the fleet page: devices with their figures and open commands, and one
worker's patrol track for a day (the handheld's ``track`` events)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session

from hub.areas import service as areas
from hub.areas.models import Grid, WorkerGrid
from hub.auth.service import Principal
from hub.commands.models import OPEN_STATUSES, Command
from hub.devices.models import Device, DeviceStatus
from hub.events.models import Event
from hub.fleet.schemas import FleetDevice, FleetPage, Track, TrackPoint
from hub.settings import Settings

MAX_POINTS = 20_000
# A track event holds the fixes of a few minutes; events captured this long around the day
# are read and their fixes filtered by their own time.
_TRACK_MARGIN = timedelta(hours=1)
_MAX_E6 = 180_000_000


def _filters(
    principal: Principal,
    grid: str | None,
    community: str | None,
    kind: str | None,
    online: bool | None,
    revoked: bool,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if principal.scope_code is not None:
        where.append(Device.grid_code.startswith(principal.scope_code))
    if grid is not None:
        where.append(Device.grid_code == grid)
    if community is not None:
        where.append(Grid.community_code == community)
    if kind is not None:
        where.append(Device.kind == kind)
    if online is not None:
        where.append(Device.online.is_(online))
    if not revoked:
        where.append(Device.status == DeviceStatus.active.value)
    return where


def list_fleet(
    *,
    db_session: Session,
    principal: Principal,
    grid: str | None = None,
    community: str | None = None,
    kind: str | None = None,
    online: bool | None = None,
    revoked: bool = False,
    offset: int = 0,
    limit: int = 200,
) -> FleetPage:
    """The devices inside the caller's area, by grid then id, with their open commands."""
    where = _filters(principal, grid, community, kind, online, revoked)
    base = select(Device, Grid.community_code).outerjoin(Grid, Grid.code == Device.grid_code)
    rows = db_session.execute(
        base.where(*where).order_by(Device.grid_code, Device.id).offset(offset).limit(limit)
    ).all()
    counted = select(func.count(), func.sum(cast(Device.online, Integer))).select_from(Device)
    counted = counted.outerjoin(Grid, Grid.code == Device.grid_code).where(*where)
    total, up = db_session.execute(counted).one()
    ids = [device.id for device, _ in rows]
    pending: dict[str, int] = {}
    if ids:
        pending = {
            device_id: int(n)
            for device_id, n in db_session.execute(
                select(Command.device_id, func.count())
                .where(Command.device_id.in_(ids), Command.status.in_(list(OPEN_STATUSES)))
                .group_by(Command.device_id)
            )
        }
    items = []
    for device, community_code in rows:
        item = FleetDevice.model_validate(
            {
                **{k: getattr(device, k) for k in FleetDevice.model_fields if hasattr(device, k)},
                "community_code": community_code,
                "pending_commands": pending.get(device.id, 0),
            }
        )
        items.append(item)
    return FleetPage(items=items, total=int(total), online=int(up or 0), offset=offset, limit=limit)


def day_bounds(day: date, settings: Settings) -> tuple[datetime, datetime]:
    """The hub's local ``day`` (``work_utc_offset_minutes``) as a UTC interval."""
    offset = timedelta(minutes=settings.work_utc_offset_minutes)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - offset
    return start, start + timedelta(days=1)


def _point(raw: Any, grid_code: str | None, start: int, end: int) -> TrackPoint | None:
    """One ``[ts, lat_e6, lon_e6, acc_m]`` fix inside the day, or None (malformed, outside)."""
    if not isinstance(raw, list) or len(raw) < 3:
        return None
    ts, lat, lon = raw[0], raw[1], raw[2]
    acc = raw[3] if len(raw) > 3 else None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (ts, lat, lon)):
        return None
    if not (start <= ts < end and abs(lat) <= _MAX_E6 // 2 and abs(lon) <= _MAX_E6):
        return None
    acc_m = acc if isinstance(acc, int) and not isinstance(acc, bool) and acc >= 0 else None
    return TrackPoint(
        at=datetime.fromtimestamp(ts, tz=UTC),
        lat_e6=lat,
        lon_e6=lon,
        acc_m=acc_m,
        grid_code=grid_code,
    )


def worker_track(
    *, db_session: Session, principal: Principal, worker_id: str, day: date, settings: Settings
) -> Track:
    """The fixes ``worker_id`` reported on ``day`` from the grids the caller may see (a worker
    outside the caller's area is NotFoundError, as if it did not exist)."""
    worker = areas.get_visible_worker(
        db_session=db_session, worker_id=worker_id, scope_code=principal.scope_code
    )
    grids = [
        code
        for code in db_session.scalars(
            select(WorkerGrid.grid_code).where(WorkerGrid.worker_id == worker.id)
        )
        if principal.covers(code)
    ]
    start, end = day_bounds(day, settings)
    t0, t1 = int(start.timestamp()), int(end.timestamp())
    points: list[TrackPoint] = []
    truncated = False
    if grids:
        events = db_session.execute(
            select(Event.grid_code, Event.body)
            .where(
                Event.kind == "track",
                Event.grid_code.in_(grids),
                Event.ts >= t0 - int(_TRACK_MARGIN.total_seconds()),
                Event.ts < t1 + int(_TRACK_MARGIN.total_seconds()),
            )
            .order_by(Event.ts, Event.id)
        )
        for grid_code, body in events:
            if not isinstance(body, dict) or body.get("worker") != worker.id:
                continue
            raw_points = body.get("points")
            for raw in raw_points if isinstance(raw_points, list) else []:
                point = _point(raw, grid_code, t0, t1)
                if point is not None:
                    points.append(point)
        points.sort(key=lambda p: p.at)
        if len(points) > MAX_POINTS:
            points, truncated = points[:MAX_POINTS], True
    return Track(worker_id=worker.id, day=day, points=points, truncated=truncated)
