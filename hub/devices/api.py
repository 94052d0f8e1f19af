"""Devices: register (admin; creates the broker account), list within the caller's area, bind
to a grid, a new broker password; the hub key.

A device's detail (with its commands) and revocation (which fails its open commands) are served
by ``hub.commands.api``, the layer that knows both.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from hub import keys
from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.bounds import PageOffset
from hub.broker_admin import BrokerAdminError
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.devices import flows, service
from hub.devices.deps import BrokerAdminDep, broker_unavailable_body
from hub.devices.schemas import (
    BrokerAccountRead,
    DeviceBind,
    DeviceCreate,
    DeviceRead,
    DeviceRegistered,
    HubKeyRead,
)
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


_BROKER_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"description": "the broker refused or did not answer; nothing changed"}
}


@router.post("/devices", response_model=DeviceRegistered, status_code=201, responses=_BROKER_DOWN)
def register(
    body: DeviceCreate,
    db_session: SessionDep,
    clock: ClockDep,
    user: AdminUser,
    admin: BrokerAdminDep,
) -> DeviceRegistered | JSONResponse:
    """Register the device and create its broker account. ``broker`` (username, password,
    client id) is shown this once: the hub never stores the password. A broker failure is a
    503 and nothing is registered."""
    service.require_covers(user, body.grid_code)
    try:
        device, account = flows.register(db_session=db_session, data=body, clock=clock, admin=admin)
    except BrokerAdminError as exc:
        return JSONResponse(broker_unavailable_body(exc), status_code=503)
    read = DeviceRead.model_validate(device)
    broker = BrokerAccountRead(**asdict(account)) if account is not None else None
    return DeviceRegistered(**read.model_dump(), broker=broker)


@router.post(
    "/devices/{device_id}/broker-password",
    response_model=BrokerAccountRead,
    responses=_BROKER_DOWN,
)
def broker_password(
    device_id: str, db_session: SessionDep, user: AdminUser, admin: BrokerAdminDep
) -> BrokerAccountRead | JSONResponse:
    """A new broker password for an active device (to re-flash it); shown this once."""
    service.visible_device(db_session=db_session, user=user, device_id=device_id)
    try:
        account = flows.reset_password(db_session=db_session, device_id=device_id, admin=admin)
    except BrokerAdminError as exc:
        return JSONResponse(broker_unavailable_body(exc), status_code=503)
    return BrokerAccountRead(**asdict(account))


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
