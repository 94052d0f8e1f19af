"""Worker lists: every online handheld holds its grid's current list (``hub.workers.roster``).

The handheld says which list it holds in its heartbeats (``workers``) and in the ack of a
``workers`` command (``applied <version>``). ``reconcile`` (a dispatcher pass, at most every
``INTERVAL_S``) queues the grid's current list for each online handheld whose version differs
and that has no ``workers`` command under way; a list change (a PIN set, a worker linked,
unlinked or deactivated) reaches the grid's handhelds on the next pass. A handheld that never
said (fresh from provisioning, config ``workers`` only) gets the list too, once the hub keeps
a PIN for one of the grid's workers: until then the provisioned config list stands, so a
deployment that set its PINs in the device config keeps working until its PINs move to the hub.
Once a handheld holds a hub list, an emptied list (the last worker unlinked) is sent as well.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.commands import service
from hub.commands.models import OPEN_STATUSES, Command, CommandStatus
from hub.devices.models import Device, DeviceKind, DeviceStatus
from hub.errors import HubError
from hub.workers import roster
from hub.workers.models import DeviceWorkerList

logger = logging.getLogger(__name__)

OP = "workers"
INTERVAL_S = 10
LIFETIME_S = 600
_APPLIED = re.compile(r"^applied ([0-9a-f]{1,64})$")


def reconcile(*, db_session: Session, clock: Clock, limit: int = 100) -> list[str]:
    """Queue the current list for up to ``limit`` online handhelds that hold another one;
    returns their ids. Flushes; the caller commits."""
    rows = db_session.execute(
        select(Device.id, Device.grid_code, DeviceWorkerList.version, DeviceWorkerList.refused)
        .outerjoin(DeviceWorkerList, DeviceWorkerList.device_id == Device.id)
        .where(
            Device.online.is_(True),
            Device.status == DeviceStatus.active.value,
            Device.kind == DeviceKind.handheld.value,
            Device.grid_code.is_not(None),
        )
        .order_by(Device.id)
    ).all()
    if not rows:
        return []
    busy = set(
        db_session.scalars(
            select(Command.device_id).where(
                Command.op == OP, Command.status.in_([s.value for s in OPEN_STATUSES])
            )
        )
    )
    todo = [(r.id, str(r.grid_code), r.version, r.refused) for r in rows if r.id not in busy]
    lists = roster.records_for(db_session, (grid for _, grid, _, _ in todo))
    started: list[str] = []
    versions: dict[str, dict[str, Any] | None] = {}  # per grid, once a pass
    for device_id, grid, have, refused in todo:
        if grid not in versions:
            versions[grid] = _args(grid, lists[grid])
        args = versions[grid]
        if args is None:
            continue
        if args["v"] in (have, refused):
            continue  # held, or failed on the handheld (its ack said why; logged then)
        if not lists[grid] and not have:
            continue  # the hub keeps no PIN for this grid and never sent it a list: the
            # handheld's provisioned config list stands (see the module doc)
        service.enqueue(
            db_session=db_session,
            device_id=device_id,
            op=OP,
            args=args,
            lifetime_s=LIFETIME_S,
            clock=clock,
            created_by="system:worker_sync",
            by_hub=True,
        )
        logger.info("%s: worker list %s -> %s (%d)", device_id, have, args["v"], len(lists[grid]))
        started.append(device_id)
        if len(started) >= limit:
            break
    return started


_warned: dict[str, int] = {}  # grid -> records it was last warned about (once each)


# grid -> (a fingerprint of its records, the command args): a list is hashed once, not on
# every pass (15,000 grids' canonical JSON and SHA-256 took ~0.3 s a pass)
_args_cache: dict[str, tuple[int, dict[str, Any]]] = {}


def _args(grid: str, records: roster.Records) -> dict[str, Any] | None:
    fingerprint = hash(tuple(sorted((wid, tuple(rec)) for wid, rec in records.items())))
    cached = _args_cache.get(grid)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    try:
        args = roster.command_args(grid, records)
        _args_cache[grid] = (fingerprint, args)
        return args
    except HubError as exc:
        if _warned.get(grid) != len(records):
            _warned[grid] = len(records)
            logger.warning("grid %s: no worker list sent: %s", grid, exc)
        return None


def on_ack(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """After an ack is recorded: a list applied is the version the handheld now holds."""
    kept = service.kept_answer(db_session=db_session, event=event, op=OP)
    if kept is None:
        return
    cmd, detail = kept
    body = event["body"]
    if body.get("status") == CommandStatus.succeeded.value:
        applied = _APPLIED.match(detail)
        if applied:
            roster.note_version(
                db_session=db_session, device_id=cmd.device_id, version=applied[1], at=clock.now()
            )
        return
    if body.get("status") == CommandStatus.failed.value:
        # the handheld could not apply it (bound to another grid, firmware without the op):
        # not sent again until the list changes. A refused command (replayed, expired) was
        # never tried: the next pass sends the list afresh.
        roster.note_refused(db_session=db_session, device_id=cmd.device_id,
                            version=str(cmd.args.get("v")), at=clock.now())  # fmt: skip
    logger.warning("%s: worker list %s %s (%s)", cmd.device_id, cmd.args.get("v"),
                   body.get("status"), detail)  # fmt: skip
