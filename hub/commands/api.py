"""Commands to devices: send a task / verify request / config / reboot / ping (or a gate op),
read one command and a device's history; the device detail (with its commands) and revocation
(which fails its open commands) under the ``devices`` tag."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Query

from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.broker_admin import BrokerAdminError
from hub.commands import service
from hub.commands.schemas import CommandCreate, CommandRead, DeviceDetail
from hub.deps import ClockDep, SessionDep
from hub.devices import flows as device_flows
from hub.devices.deps import BrokerAdminDep
from hub.devices.schemas import DeviceRead, DeviceRevoke, DeviceRevoked
from hub.devices.service import visible_device

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["commands"])
devices_router = APIRouter(prefix="/api", tags=["devices"])


@router.post("/devices/{device_id}/commands/{op}", response_model=CommandRead, status_code=201)
def send_command(
    device_id: str,
    op: str,
    body: CommandCreate,
    db_session: SessionDep,
    clock: ClockDep,
    user: CurrentUser,
) -> CommandRead:
    """Queue ``op`` (handheld: task, verify, config, reboot, ping; gates: open, door_mode,
    time_sync, config, reboot, ping, and enrol on a face terminal; docs/access.md). It is
    signed and sent when the device is online (one at a time per device), retried, and
    expires after ``lifetime_s``. Operators and admins only."""
    require_roles(user, Role.admin, Role.operator)
    visible_device(db_session=db_session, user=user, device_id=device_id)
    cmd = service.enqueue(
        db_session=db_session,
        device_id=device_id,
        op=op,
        args=body.args,
        lifetime_s=body.lifetime_s,
        clock=clock,
        created_by=user.actor,
    )
    db_session.commit()
    return CommandRead.model_validate(cmd)


@router.get("/devices/{device_id}/commands", response_model=list[CommandRead])
def command_history(
    device_id: str,
    db_session: SessionDep,
    user: CurrentUser,
    limit: int = Query(100, ge=1, le=1000),
) -> list[CommandRead]:
    visible_device(db_session=db_session, user=user, device_id=device_id)
    rows = service.history(db_session=db_session, device_id=device_id, limit=limit)
    return [CommandRead.model_validate(c) for c in rows]


@router.get("/commands/{command_id}", response_model=CommandRead)
def get_command(command_id: str, db_session: SessionDep, user: CurrentUser) -> CommandRead:
    cmd = service.get_command(db_session=db_session, command_id=command_id)
    visible_device(db_session=db_session, user=user, device_id=cmd.device_id)
    return CommandRead.model_validate(cmd)


@devices_router.get("/devices/{device_id}", response_model=DeviceDetail)
def device_detail(
    device_id: str,
    db_session: SessionDep,
    user: CurrentUser,
    commands: int = Query(50, ge=0, le=500),
) -> DeviceDetail:
    device = visible_device(db_session=db_session, user=user, device_id=device_id)
    detail = DeviceDetail.model_validate(device, from_attributes=True)
    history = service.history(db_session=db_session, device_id=device_id, limit=commands)
    detail.commands = [CommandRead.model_validate(c) for c in history]
    return detail


@devices_router.post("/devices/{device_id}/revoke", response_model=DeviceRevoked)
def revoke(
    device_id: str,
    db_session: SessionDep,
    clock: ClockDep,
    user: AdminUser,
    admin: BrokerAdminDep,
    body: DeviceRevoke | None = None,
) -> DeviceRevoked:
    """Revoke the device now (idempotent): the hub fixes a watermark from the highest seq it
    holds or was told of; later messages are rejected as ``revoked`` whatever their ``ts``,
    earlier ones that link into the chain stay valid; its open commands fail. Then its broker
    account is disabled and its session dropped: ``broker_disabled`` false means the broker
    did not answer (the revocation stands; the hub's supervision pass retries)."""
    visible_device(db_session=db_session, user=user, device_id=device_id)
    device = service.revoke_device(
        db_session=db_session,
        device_id=device_id,
        reason=body.reason if body else None,
        clock=clock,
    )
    db_session.commit()  # the revocation stands whatever the broker does
    try:
        disabled = device_flows.disable_account(
            db_session=db_session, device=device, admin=admin, clock=clock
        )
    except BrokerAdminError as exc:
        db_session.rollback()
        logger.warning("%s revoked; the broker did not disable its account: %s", device_id, exc)
        disabled = False
    read = DeviceRead.model_validate(device)
    return DeviceRevoked(**read.model_dump(), broker_disabled=disabled)
