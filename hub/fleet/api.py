"""The fleet page's reads: ``GET /api/fleet/devices`` and ``GET /api/workers/{id}/track``.
Commands are sent through ``POST /api/devices/{id}/commands/{op}`` (``hub.commands.api``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.deps import SessionDep, SettingsDep
from hub.devices.models import DeviceKind
from hub.fleet import service
from hub.fleet.schemas import FleetPage, Track

router = APIRouter(prefix="/api", tags=["fleet"])

_GRID = r"^\d{14}$"
_COMMUNITY = r"^\d{12}$"


@router.get("/fleet/devices", response_model=FleetPage)
def fleet(
    db_session: SessionDep,
    user: CurrentUser,
    grid: str | None = Query(None, pattern=_GRID),
    community: str | None = Query(None, pattern=_COMMUNITY),
    kind: DeviceKind | None = None,
    online: bool | None = None,
    revoked: bool = False,
    offset: int = Query(0, ge=0, le=2**31 - 1),
    limit: int = Query(200, ge=1, le=1000),
) -> FleetPage:
    """The devices inside the caller's area by grid: online state, last birth, firmware,
    the newest heartbeat's battery, outbox backlog and free flash, and the commands not yet
    answered. Revoked devices only with ``revoked=true``. Operators and admins."""
    require_roles(user, Role.admin, Role.operator)
    return service.list_fleet(
        db_session=db_session,
        principal=user,
        grid=grid,
        community=community,
        kind=kind.value if kind is not None else None,
        online=online,
        revoked=revoked,
        offset=offset,
        limit=limit,
    )


@router.get("/workers/{worker_id}/track", response_model=Track)
def track(
    worker_id: str,
    db_session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    day: Annotated[
        date,
        Query(
            ge=date(2000, 1, 1),
            le=date(2099, 12, 31),
            description="YYYY-MM-DD, the hub's local day (Asia/Shanghai by default)",
        ),
    ],
) -> Track:
    """A grid worker's patrol track on ``day``: the fixes of its handheld's ``track`` events
    in the grids inside the caller's area, in time order. A worker outside it is 404."""
    require_roles(user, Role.admin, Role.operator)
    return service.worker_track(
        db_session=db_session, principal=user, worker_id=worker_id, day=day, settings=settings
    )
