"""List sync: bring every online gate to its community's current list version.

The gate reports its version in its birth and heartbeat (``hub.access.lists.note_list_version``)
and in the ack of the last part of a sync (``applied <version>``). ``reconcile`` (every
dispatcher pass) queues the parts of a sync for each online gate whose version differs from its
community's and that has no sync under way; the dispatcher sends them one at a time, in cseq
order (docs/access.md section 2). A part that fails (``base_mismatch <have>``: the gate is not
where the hub thought) cancels the rest of its sync and records the version the gate named; a
part that times out or expires leaves the gate's version as it was. Either way the next pass
starts a fresh sync from the version the gate reports. Only the answer a part kept counts (the
first final one): a retry of a part the gate already ran, refused as replayed after the gate
answered it, stops nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.access import lists
from hub.access.models import DeviceListVersion
from hub.access.service import community_of
from hub.clock import Clock
from hub.commands import service
from hub.commands.models import OPEN_STATUSES, Command, CommandStatus
from hub.devices.models import Device, DeviceKind, DeviceStatus
from hub.errors import HubError

logger = logging.getLogger(__name__)

OP = "list_sync"
GATE_KINDS = (DeviceKind.access.value, DeviceKind.face.value, DeviceKind.barrier.value)
# A part the gate does not answer in this time expires; the next pass starts over.
PART_LIFETIME_S = 600
_APPLIED = re.compile(r"^applied (\d{1,16})$")
# the gate's command runner may put the exception type first ("ValueError: base_mismatch 41")
_MISMATCH = re.compile(r"\bbase_mismatch (\d{1,16})$")


def _syncing(db_session: Session) -> set[str]:
    return set(
        db_session.scalars(
            select(Command.device_id).where(
                Command.op == OP, Command.status.in_([s.value for s in OPEN_STATUSES])
            )
        )
    )


def reconcile(*, db_session: Session, clock: Clock, limit: int = 50) -> list[str]:
    """Queue a sync for up to ``limit`` online gates that are behind; returns their ids.
    Flushes; the caller commits."""
    rows = db_session.execute(
        select(Device, DeviceListVersion.version)
        .join(DeviceListVersion, DeviceListVersion.device_id == Device.id)
        .where(
            Device.online.is_(True),
            Device.status == DeviceStatus.active.value,
            Device.kind.in_(GATE_KINDS),
            Device.grid_code.is_not(None),
        )
        .order_by(Device.id)
    ).all()
    if not rows:
        return []
    busy = _syncing(db_session)
    current: dict[str, int] = {}
    started: list[str] = []
    for device, version in rows:
        if device.id in busy:
            continue
        try:
            community = community_of(device)
        except HubError:
            continue
        if community not in current:
            current[community] = lists.current_version(db_session=db_session, community=community)
        if version == current[community]:
            continue
        parts = lists.sync_parts(db_session=db_session, community=community, base=version)
        for args in parts:
            service.enqueue(
                db_session=db_session,
                device_id=device.id,
                op=OP,
                args=args,
                lifetime_s=PART_LIFETIME_S,
                clock=clock,
                created_by="system:list_sync",
                by_hub=True,
            )
        if parts:
            logger.info(
                "%s: list sync %s %d -> %d in %d part(s)",
                device.id,
                parts[0]["mode"],
                version,
                parts[0]["version"],
                len(parts),
            )
            started.append(device.id)
            if len(started) >= limit:
                break
    return started


def on_ack(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """After an ack is recorded: follow a list_sync part's answer (see the module doc)."""
    kept = service.kept_answer(db_session=db_session, event=event, op=OP)
    if kept is None:  # not a list_sync part's, or not the answer it kept
        return
    cmd, detail = kept
    body = event["body"]
    at: datetime = clock.now()
    if body.get("status") == CommandStatus.succeeded.value:
        applied = _APPLIED.match(detail)
        if applied:
            lists.note_list_version(
                db_session=db_session, device_id=cmd.device_id, version=int(applied[1]), at=at
            )
        return
    # failed or refused: the rest of this sync cannot apply
    cancelled = db_session.execute(
        update(Command)
        .where(
            Command.device_id == cmd.device_id,
            Command.op == OP,
            Command.status.in_([s.value for s in OPEN_STATUSES]),
            Command.cseq > cmd.cseq,
        )
        .values(status=CommandStatus.failed.value, detail=f"sync stopped at part: {detail}"[:200])
    ).rowcount  # type: ignore[attr-defined]
    have = _MISMATCH.search(detail)
    if have:
        lists.note_list_version(
            db_session=db_session, device_id=cmd.device_id, version=int(have[1]), at=at
        )
    logger.warning(
        "%s: list_sync part %s %s (%s); %d later part(s) cancelled",
        cmd.device_id,
        cmd.args.get("part"),
        body.get("status"),
        detail,
        cancelled,
    )
