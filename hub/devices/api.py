"""Devices: register (admin), list within the caller's area, bind to a grid; the hub key.

A device's detail (with its commands) and revocation (which fails its open commands) are served
by ``hub.commands.api``, the layer that knows both.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Query

from hub import keys
from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.bounds import PageOffset
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.devices import service
from hub.devices.schemas import DeviceBind, DeviceCreate, DeviceRead, HubKeyRead
from hub.errors import NotFoundError

router = APIRouter(prefix="/api", tags=["devices"])


@lru_cache(maxsize=4)
def _hub_key(path: Path) -> keys.HubKey:
    return keys.load(path)  # never creates the file: see hub.keys.load_or_create


@router.get("/hub/key", response_model=HubKeyRead)
def hub_key(settings: SettingsDep, _user: CurrentUser) -> HubKeyRead:
    """The hub's command-signing public key, written into each device's config."""
    try:
        key = _hub_key(settings.hub_key_path)
    except FileNotFoundError as exc:
        raise NotFoundError(
            "the hub has no command key yet (run `gridlink hub migrate` or `gridlink hub key`)",
            code="hub_key_missing",
        ) from exc
    return HubKeyRead(public_key=key.public_key_hex)


@router.post("/devices", response_model=DeviceRead, status_code=201)
def register(
    body: DeviceCreate, db_session: SessionDep, clock: ClockDep, user: AdminUser
) -> DeviceRead:
    service.require_covers(user, body.grid_code)
    device = service.register_device(db_session=db_session, data=body, clock=clock)
    db_session.commit()
    return DeviceRead.model_validate(device)


@router.get("/devices", response_model=list[DeviceRead])
def list_devices(
    db_session: SessionDep,
    user: CurrentUser,
    kind: str | None = None,
    status: str | None = None,
    grid_code: str | None = None,
    online: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: PageOffset = 0,
) -> list[DeviceRead]:
    require_roles(user, Role.admin, Role.operator)
    rows = service.list_devices(
        db_session=db_session,
        scope_code=user.scope_code,
        kind=kind,
        status=status,
        grid_code=grid_code,
        online=online,
        limit=limit,
        offset=offset,
    )
    return [DeviceRead.model_validate(d) for d in rows]


@router.put("/devices/{device_id}/grid", response_model=DeviceRead)
def bind_grid(
    device_id: str, body: DeviceBind, db_session: SessionDep, user: AdminUser
) -> DeviceRead:
    """Bind the device to a grid (a grid has at most one active handheld) or unbind it."""
    service.visible_device(db_session=db_session, user=user, device_id=device_id)
    service.require_covers(user, body.grid_code)
    device = service.bind_grid(db_session=db_session, device_id=device_id, grid_code=body.grid_code)
    db_session.commit()
    return DeviceRead.model_validate(device)
