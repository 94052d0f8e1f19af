"""Devices: register (admin), list and read within the caller's area, revoke; the hub key."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hub.api.deps import AdminUser, ClockDep, CurrentUser, SessionDep, SettingsDep, require_roles
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.commands import service as commands_service
from hub.commands.models import CommandRead
from hub.devices import service
from hub.devices.models import Device, DeviceCreate, DeviceRead, DeviceRevoke
from hub.errors import NotFoundError, PermissionDeniedError
from hub.keys import HubKey, load_or_create

router = APIRouter(prefix="/api", tags=["devices"])


class DeviceDetail(DeviceRead):
    commands: list[CommandRead] = []


class DeviceBind(BaseModel):
    grid_code: str | None


class HubKeyRead(BaseModel):
    algorithm: str = "Ed25519"
    public_key: str


@lru_cache(maxsize=4)
def _hub_key(path: Path) -> HubKey:
    return load_or_create(path)


def visible_device(db_session: SessionDep, user: Principal, device_id: str) -> Device:
    """The device if the caller may see it (unscoped callers see all; others their area)."""
    require_roles(user, Role.admin, Role.operator)
    device = service.get_device(db_session=db_session, device_id=device_id)
    if user.scope_code is not None and not user.covers(device.grid_code):
        raise NotFoundError(f"device {device_id} is not registered", code="device_not_found")
    return device


def require_covers(user: Principal, grid_code: str | None) -> None:
    """A scoped admin may only register, move or revoke devices of grids inside its area
    (an unscoped admin may also leave a device unbound)."""
    if user.scope_code is not None and not user.covers(grid_code):
        raise PermissionDeniedError(f"grid {grid_code} is outside your area {user.scope_code}")


@router.get("/hub/key", response_model=HubKeyRead)
def hub_key(settings: SettingsDep, _user: CurrentUser) -> HubKeyRead:
    """The hub's command-signing public key, written into each device's config."""
    assert settings.hub_key_path is not None
    return HubKeyRead(public_key=_hub_key(Path(settings.hub_key_path)).public_key_hex)


@router.post("/devices", response_model=DeviceRead, status_code=201)
def register(
    body: DeviceCreate, db_session: SessionDep, clock: ClockDep, user: AdminUser
) -> DeviceRead:
    require_covers(user, body.grid_code)
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
    offset: int = Query(0, ge=0),
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


@router.get("/devices/{device_id}", response_model=DeviceDetail)
def device_detail(
    device_id: str,
    db_session: SessionDep,
    user: CurrentUser,
    commands: int = Query(50, ge=0, le=500),
) -> DeviceDetail:
    device = visible_device(db_session, user, device_id)
    detail = DeviceDetail.model_validate(device, from_attributes=True)
    history = commands_service.history(db_session=db_session, device_id=device_id, limit=commands)
    detail.commands = [CommandRead.model_validate(c) for c in history]
    return detail


@router.post("/devices/{device_id}/revoke", response_model=DeviceRead)
def revoke(
    device_id: str,
    db_session: SessionDep,
    clock: ClockDep,
    user: AdminUser,
    body: DeviceRevoke | None = None,
) -> DeviceRead:
    """Revoke the device's key now: what it signed before stays valid, later messages are
    rejected; its open commands fail. (Disable its broker credentials as well: see ops docs.)"""
    reason = body.reason if body else None
    visible_device(db_session, user, device_id)
    device = service.revoke_device(
        db_session=db_session, device_id=device_id, reason=reason, clock=clock
    )
    commands_service.cancel_open(
        db_session=db_session, device_id=device_id, detail="device revoked"
    )
    db_session.commit()
    return DeviceRead.model_validate(device)


@router.put("/devices/{device_id}/grid", response_model=DeviceRead)
def bind_grid(
    device_id: str, body: DeviceBind, db_session: SessionDep, user: AdminUser
) -> DeviceRead:
    """Bind the device to a grid (a grid has at most one active handheld) or unbind it."""
    visible_device(db_session, user, device_id)
    require_covers(user, body.grid_code)
    device = service.bind_grid(db_session=db_session, device_id=device_id, grid_code=body.grid_code)
    db_session.commit()
    return DeviceRead.model_validate(device)
