"""Commands: enqueue, claim for sending, retry, expire, record acks, history."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.access import faces
from hub.access.service import community_of
from hub.clock import Clock
from hub.commands import gate_args
from hub.commands.models import (
    FACE_OPS,
    FINAL_STATUSES,
    GATE_OPS,
    HANDHELD_OPS,
    HUB_ONLY_OPS,
    OPEN_STATUSES,
    Command,
    CommandStatus,
)
from hub.devices import service as devices
from hub.devices.models import Device, DeviceKind, DeviceStatus
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.events.models import Event
from protocol import bundle, canonical, command, topics
from protocol.errors import ProtocolError
from protocol.limits import MAX_COMMAND_BYTES

logger = logging.getLogger(__name__)

MIN_LIFETIME_S = 10
MAX_LIFETIME_S = 30 * 24 * 3600


def ops_for(kind: str) -> frozenset[str]:
    if kind == DeviceKind.handheld:
        return HANDHELD_OPS
    return FACE_OPS if kind == DeviceKind.face else GATE_OPS


def enqueue(
    *,
    db_session: Session,
    device_id: str,
    op: str,
    args: dict[str, Any],
    lifetime_s: int = 3600,
    clock: Clock,
    created_by: str | None = None,
    by_hub: bool = False,
) -> Command:
    """Queue a command for a device; the dispatcher signs and sends it when the device is online.

    Gate commands' args are checked (``hub.commands.gate_args``); ``list_sync`` and ``ota`` are
    queued only by the hub itself (``by_hub``), from the access lists and from rollouts.
    Flushes (so ``id`` / ``cseq`` are set); the caller commits.
    """
    device = db_session.get(Device, device_id)
    if device is None:
        raise NotFoundError(f"device {device_id} is not registered", code="device_not_found")
    if device.status == DeviceStatus.revoked:
        raise ConflictError(f"device {device_id} is revoked", code="device_revoked")
    if op not in ops_for(device.kind):
        raise InvalidInputError(f"a {device.kind} device has no operation {op!r}", code="bad_op")
    if op in HUB_ONLY_OPS and not by_hub:
        raise InvalidInputError(
            f"{op} is sent by the hub from {HUB_ONLY_OPS[op]} instead", code="bad_op"
        )
    if op == "rotate_key" and args:
        raise InvalidInputError("rotate_key takes no args", code="bad_args")
    if op == "ota":
        args = dict(bundle.check_command_args(args))
    elif device.kind != DeviceKind.handheld:
        args = gate_args.check(op, args)
    if op == "enrol":
        args = faces.prepare_enrolment(
            db_session=db_session, community=community_of(device), person_id=args["person"]
        )
    if not MIN_LIFETIME_S <= lifetime_s <= MAX_LIFETIME_S:
        raise InvalidInputError(f"lifetime_s must be {MIN_LIFETIME_S}..{MAX_LIFETIME_S}")
    try:
        size = len(canonical.dumps(args))
    except (ProtocolError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"args are not canonical JSON: {exc}", code="bad_args") from exc
    if size > MAX_COMMAND_BYTES - 512:
        raise InvalidInputError("args are too large for one command", code="oversize")
    now = clock.now()
    for _attempt in range(5):
        cseq = (
            db_session.scalar(select(func.max(Command.cseq)).where(Command.device_id == device_id))
            or 0
        ) + 1
        cmd = Command(
            id="c-" + uuid.uuid4().hex,
            device_id=device_id,
            cseq=cseq,
            op=op,
            args=args,
            status=CommandStatus.queued.value,
            retries=0,
            lifetime_s=lifetime_s,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime_s),
            created_by=created_by,
        )
        try:
            with db_session.begin_nested():
                db_session.add(cmd)
            return cmd
        except IntegrityError:  # another writer took this cseq
            continue
    raise ConflictError("could not allocate a command sequence", code="conflict")


def kept_answer(
    *, db_session: Session, event: dict[str, Any], op: str
) -> tuple[Command, str] | None:
    """The ``op`` command an ack event (already recorded on its command) answers, with the
    ack's detail, when this ack is the answer the command kept (the first final one); None
    for another op, another device's command, or a later answer (a retry of a command the
    device had already run, refused as replayed, changes nothing)."""
    body = event.get("body") or {}
    cmd_id = body.get("id")
    if not isinstance(cmd_id, str):
        return None
    cmd = db_session.get(Command, cmd_id)
    if cmd is None or cmd.op != op or cmd.device_id != event.get("device_id"):
        return None
    detail = str(body.get("detail") or "")
    if cmd.status != body.get("status") or (cmd.detail or "") != detail[:200]:
        return None
    return cmd, detail


def get_command(*, db_session: Session, command_id: str) -> Command:
    cmd = db_session.get(Command, command_id)
    if cmd is None:
        raise NotFoundError(f"command {command_id} not found", code="command_not_found")
    return cmd


def history(*, db_session: Session, device_id: str, limit: int = 100) -> list[Command]:
    return list(
        db_session.scalars(
            select(Command)
            .where(Command.device_id == device_id)
            .order_by(Command.cseq.desc())
            .limit(limit)
        )
    )


def seal(cmd: Command, hub_seed: bytes, at: datetime | None = None) -> bytes:
    """The signed bytes of ``cmd``; a ``time_sync`` carries the hub's time ``at`` signing."""
    iat = int(cmd.created_at.timestamp())
    exp = int(cmd.expires_at.timestamp())
    args = cmd.args
    if cmd.op == "time_sync":
        args = {"ts": int((at or cmd.created_at).timestamp())}
    data: bytes = command.seal_command(
        cmd.device_id, cmd.cseq, cmd.id, cmd.op, args, iat, exp, hub_seed
    )
    return data


def claim_send(*, db_session: Session, cmd: Command, at: datetime, retry: bool) -> bool:
    """Mark ``cmd`` sent (or re-sent) iff nobody else did meanwhile. Caller commits."""
    cond: ColumnElement[bool]
    if retry:
        cond = (Command.status == CommandStatus.sent.value) & (Command.sent_at == cmd.sent_at)
        values: dict[str, Any] = {"sent_at": at, "retries": Command.retries + 1}
    else:
        cond = Command.status == CommandStatus.queued.value
        values = {"status": CommandStatus.sent.value, "sent_at": at, "sealed": cmd.sealed}
    result = db_session.execute(update(Command).where(Command.id == cmd.id, cond).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def expire_due(*, db_session: Session, at: datetime) -> int:
    """Commands past their lifetime without a final answer become ``expired``."""
    result = db_session.execute(
        update(Command)
        .where(Command.status.in_([s.value for s in OPEN_STATUSES]), Command.expires_at <= at)
        .values(status=CommandStatus.expired.value, detail="lifetime elapsed")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def time_out(*, db_session: Session, cmd: Command, detail: str) -> None:
    db_session.execute(
        update(Command)
        .where(Command.id == cmd.id, Command.status == CommandStatus.sent.value)
        .values(status=CommandStatus.timed_out.value, detail=detail)
    )


def cancel_open(*, db_session: Session, device_id: str, detail: str) -> int:
    """Fail every open command of a device (e.g. when it is revoked)."""
    result = db_session.execute(
        update(Command)
        .where(
            Command.device_id == device_id,
            Command.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .values(status=CommandStatus.failed.value, detail=detail[:200])
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def revoke_device(
    *, db_session: Session, device_id: str, reason: str | None, clock: Clock
) -> Device:
    """Revoke the device's key (the watermark counts every stored event, also those whose
    chain has not advanced yet) and fail its open commands (it will not answer them). Caller
    commits."""
    stored = db_session.scalar(select(func.max(Event.seq)).where(Event.device_id == device_id))
    device = devices.revoke_device(
        db_session=db_session,
        device_id=device_id,
        reason=reason,
        clock=clock,
        stored_seq=stored or 0,
    )
    cancel_open(db_session=db_session, device_id=device_id, detail="device revoked")
    return device


def record_ack(
    *, db_session: Session, device_id: str, body: dict[str, Any], raw: bytes, at: datetime
) -> Command | None:
    """Apply a verified ``ack`` envelope's body to its command (first final answer wins)."""
    cmd_id = body.get("id")
    status = body.get("status")
    detail = body.get("detail")
    if not isinstance(cmd_id, str) or status not in command.ACK_STATUSES:
        logger.info("ack from %s names no known command: %r", device_id, body)
        return None
    cmd = db_session.get(Command, cmd_id)
    if cmd is None or cmd.device_id != device_id:
        logger.warning("ack from %s for unknown command %s", device_id, cmd_id)
        return None
    if cmd.status in FINAL_STATUSES:
        if cmd.status in (CommandStatus.expired, CommandStatus.timed_out) and cmd.ack is None:
            pass  # a late but real answer beats our own guess
        else:
            return cmd
    cmd.status = str(status)
    cmd.detail = str(detail)[:200] if detail is not None else None
    cmd.acked_at = at
    cmd.ack = raw
    return cmd


def topic_for(cmd: Command) -> str:
    return str(topics.cmd(cmd.device_id))
