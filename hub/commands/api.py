"""Commands to devices: send a task / verify request / config / reboot / ping (or a gate op),
read one command and a device's history."""

from __future__ import annotations

from fastapi import APIRouter, Query

from hub.api.deps import ClockDep, CurrentUser, SessionDep
from hub.commands import service
from hub.commands.models import CommandCreate, CommandRead
from hub.devices.api import visible_device

router = APIRouter(prefix="/api", tags=["commands"])


@router.post("/devices/{device_id}/commands/{op}", response_model=CommandRead, status_code=201)
def send_command(
    device_id: str,
    op: str,
    body: CommandCreate,
    db_session: SessionDep,
    clock: ClockDep,
    user: CurrentUser,
) -> CommandRead:
    """Queue ``op`` (handheld: task, verify, config, reboot, ping; gates: open, close,
    always_open, always_closed, list_sync, config, reboot, ping). It is signed and sent when
    the device is online, retried, and expires after ``lifetime_s``."""
    visible_device(db_session, user, device_id)
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
    visible_device(db_session, user, device_id)
    rows = service.history(db_session=db_session, device_id=device_id, limit=limit)
    return [CommandRead.model_validate(c) for c in rows]


@router.get("/commands/{command_id}", response_model=CommandRead)
def get_command(command_id: str, db_session: SessionDep, user: CurrentUser) -> CommandRead:
    cmd = service.get_command(db_session=db_session, command_id=command_id)
    visible_device(db_session, user, cmd.device_id)
    return CommandRead.model_validate(cmd)
