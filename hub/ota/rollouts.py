"""A rollout's state machine (docs/ota.md, "Hub"): the one home of every rollout and device
state change. The flows (``hub.ota.flows``) call it from device events, command acks and the
supervision timer; the API from an operator's advance / pause / resume / cancel.

Devices enter a stage by getting a signed ``ota`` command (queued here, sent by the
dispatcher); ``ota`` events move them (in seq order: an older event never undoes a newer one);
a rollout pauses itself on failures and, with ``auto_advance``, moves on when a stage
succeeded. All functions flush at most; the caller commits.

Every change to a rollout or its entries first takes the rollout's row lock (``lock``) and
reads the rows afresh under it, so two writers (the API, ingest, the supervision timer) never
act on a stale copy: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite, whose transactions
here begin deferred (pysqlite starts them at the first write), a no-op ``UPDATE`` of the row
takes the database's write lock first. Held until the caller commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.commands import service as commands
from hub.commands.models import Command, CommandStatus
from hub.errors import HubError
from hub.ota import service
from hub.ota.errors import OtaConflictError, OtaNotFoundError
from hub.ota.models import (
    FAILURES,
    IN_PROGRESS,
    TERMINAL,
    Bundle,
    DeviceState,
    Rollout,
    RolloutDevice,
    RolloutState,
)
from protocol import bundle

logger = logging.getLogger(__name__)

OP = "ota"
_TERMINAL = {s.value for s in TERMINAL}
_FAILURES = {s.value for s in FAILURES}
_IN_PROGRESS = [s.value for s in IN_PROGRESS]
_FINISHED = (RolloutState.completed.value, RolloutState.cancelled.value)


def _queue(db_session: Session, rollout: Rollout, entry: RolloutDevice, clock: Clock) -> None:
    row = db_session.get(Bundle, rollout.bundle_id)
    assert row is not None  # a foreign key
    now = clock.now()
    args = bundle.command_args(rollout.id, row.id, len(row.manifest), row.version)
    try:
        cmd = commands.enqueue(
            db_session=db_session,
            device_id=entry.device_id,
            op=OP,
            args=dict(args),
            lifetime_s=rollout.device_timeout_s,
            clock=clock,
            created_by=f"system:ota:{rollout.id}",
            by_hub=True,
        )
    except HubError as exc:  # revoked since the rollout was made
        _set(entry, DeviceState.failed, exc.code, now)
        return
    entry.command_id = cmd.id
    entry.queued_at = now
    _set(entry, DeviceState.queued, None, now)


def _set(entry: RolloutDevice, state: DeviceState, reason: str | None, at: datetime) -> None:
    if state in FAILURES and entry.state not in _FAILURES:
        entry.fresh_failure = True
    elif state not in FAILURES:
        entry.fresh_failure = False
    entry.state = state.value
    entry.reason = reason[: bundle.MAX_REASON_LEN] if reason else None
    entry.updated_at = at


def queue_stage(*, db_session: Session, rollout: Rollout, clock: Clock) -> int:
    """Queue the command of every device of the current stage not told yet (running only)."""
    if rollout.state != RolloutState.running.value:
        return 0
    pending = db_session.scalars(
        select(RolloutDevice)
        .where(
            RolloutDevice.rollout_id == rollout.id,
            RolloutDevice.stage <= rollout.stage,
            RolloutDevice.state == DeviceState.pending.value,
        )
        .order_by(RolloutDevice.position)
    ).all()
    for entry in pending:
        _queue(db_session, rollout, entry, clock)
    if pending:
        logger.info(
            "rollout %s stage %d: %d command(s) queued", rollout.id, rollout.stage, len(pending)
        )
    return len(pending)


def lock(db_session: Session, rollout_id: str) -> Rollout | None:
    """The rollout, locked for the rest of the transaction and read afresh (None: no such
    rollout). Its entries are guarded by the same lock: read them after taking it."""
    if db_session.get_bind().dialect.name == "sqlite":
        db_session.execute(
            update(Rollout)
            .where(Rollout.id == rollout_id)
            .values(updated_at=Rollout.updated_at)
            .execution_options(synchronize_session=False)
        )
    return db_session.scalar(
        select(Rollout)
        .where(Rollout.id == rollout_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def locked(*, db_session: Session, rollout_id: str) -> Rollout:
    """``lock``; OtaNotFoundError when there is no such rollout."""
    rollout = lock(db_session, rollout_id)
    if rollout is None:
        raise OtaNotFoundError(f"rollout {rollout_id} not found", code="rollout_not_found")
    return rollout


def _fresh(db_session: Session, rollout_id: str, device_id: str) -> RolloutDevice | None:
    db_session.flush()  # a pending change is never overwritten by the fresh read
    return db_session.get(RolloutDevice, (rollout_id, device_id), populate_existing=True)


def counts(db_session: Session, rollout: Rollout) -> Counter[str]:
    return Counter(
        db_session.scalars(
            select(RolloutDevice.state).where(RolloutDevice.rollout_id == rollout.id)
        )
    )


def evaluate(*, db_session: Session, rollout: Rollout, clock: Clock) -> None:
    """Pause on failures, advance on success (``auto_advance``), complete after the last
    stage. Runs after every device change."""
    if rollout.state in _FINISHED:
        return
    db_session.flush()
    rows = db_session.execute(
        select(RolloutDevice.stage, RolloutDevice.state, RolloutDevice.fresh_failure).where(
            RolloutDevice.rollout_id == rollout.id
        )
    ).all()
    now = clock.now()
    done = sum(1 for _s, st, _f in rows if st in _TERMINAL)
    failed = sum(1 for _s, st, _f in rows if st in _FAILURES)
    fresh = any(f for _s, st, f in rows if st in _FAILURES)
    if (
        rollout.state == RolloutState.running.value
        and fresh
        and done >= rollout.pause_min_done
        and failed * 100 >= rollout.pause_failure_percent * done
    ):
        rollout.state = RolloutState.paused.value
        rollout.paused_reason = (
            f"failures: {failed} of {done} ({round(failed * 100 / done)}%) "
            f">= {rollout.pause_failure_percent}%"
        )
        rollout.updated_at = now
        logger.warning("rollout %s paused: %s", rollout.id, rollout.paused_reason)
        return
    if rollout.state != RolloutState.running.value:
        return
    current = [st for stage, st, _f in rows if stage <= rollout.stage]
    if not current or any(st not in _TERMINAL for st in current):
        return
    last = rollout.stage == len(rollout.stages) - 1
    if last:
        rollout.state = RolloutState.completed.value
        rollout.updated_at = now
        logger.info("rollout %s completed", rollout.id)
        return
    updated = sum(1 for st in current if st == DeviceState.updated.value)
    if rollout.auto_advance and updated * 100 >= rollout.advance_success_percent * len(current):
        rollout.stage += 1
        rollout.updated_at = now
        logger.info("rollout %s advanced to stage %d by itself", rollout.id, rollout.stage)
        queue_stage(db_session=db_session, rollout=rollout, clock=clock)
        evaluate(db_session=db_session, rollout=rollout, clock=clock)


def start(*, db_session: Session, rollout: Rollout, clock: Clock) -> None:
    queue_stage(db_session=db_session, rollout=rollout, clock=clock)


# --- an operator's actions --------------------------------------------------------------------


def _open(rollout: Rollout, action: str) -> None:
    if rollout.state in _FINISHED:
        raise OtaConflictError(
            f"rollout {rollout.id} is {rollout.state}: cannot {action}", code="rollout_finished"
        )


def advance(*, db_session: Session, rollout: Rollout, clock: Clock, force: bool = False) -> None:
    _open(rollout, "advance")
    if rollout.stage >= len(rollout.stages) - 1:
        raise OtaConflictError(f"rollout {rollout.id} is at its last stage", code="last_stage")
    waiting = db_session.scalar(
        select(RolloutDevice.device_id).where(
            RolloutDevice.rollout_id == rollout.id,
            RolloutDevice.stage <= rollout.stage,
            RolloutDevice.state.not_in(_TERMINAL),
        )
    )
    if waiting is not None and not force:
        raise OtaConflictError(
            f"stage {rollout.stage} is not finished ({waiting} is still going): "
            "wait, or advance with force=true",
            code="stage_not_finished",
        )
    rollout.stage += 1
    rollout.updated_at = clock.now()
    queue_stage(db_session=db_session, rollout=rollout, clock=clock)
    evaluate(db_session=db_session, rollout=rollout, clock=clock)


def pause(*, db_session: Session, rollout: Rollout, clock: Clock, by: str) -> None:
    _open(rollout, "pause")
    if rollout.state == RolloutState.running.value:
        rollout.state = RolloutState.paused.value
        rollout.paused_reason = f"paused by {by}"[:200]
        rollout.updated_at = clock.now()


def resume(*, db_session: Session, rollout: Rollout, clock: Clock) -> None:
    _open(rollout, "resume")
    if rollout.state != RolloutState.paused.value:
        return
    db_session.execute(  # the failures so far no longer pause it: only new ones do
        update(RolloutDevice)
        .where(RolloutDevice.rollout_id == rollout.id, RolloutDevice.fresh_failure.is_(True))
        .values(fresh_failure=False)
        .execution_options(synchronize_session="fetch")
    )
    rollout.state = RolloutState.running.value
    rollout.paused_reason = None
    rollout.updated_at = clock.now()
    queue_stage(db_session=db_session, rollout=rollout, clock=clock)
    evaluate(db_session=db_session, rollout=rollout, clock=clock)


def cancel(*, db_session: Session, rollout: Rollout, clock: Clock) -> None:
    """Devices not told yet (pending, or queued with the command still unsent) leave the
    rollout; devices mid-update finish on their own and are still recorded."""
    _open(rollout, "cancel")
    now = clock.now()
    for entry in service.entries(db_session=db_session, rollout_id=rollout.id):
        untold = entry.state == DeviceState.pending.value
        if entry.state == DeviceState.queued.value and entry.command_id is not None:
            gone = db_session.execute(
                update(Command)
                .where(Command.id == entry.command_id, Command.status == CommandStatus.queued.value)
                .values(status=CommandStatus.failed.value, detail="rollout cancelled")
            ).rowcount  # type: ignore[attr-defined]
            untold = bool(gone)
        if untold:
            db_session.delete(entry)
    rollout.state = RolloutState.cancelled.value
    rollout.updated_at = now
    db_session.flush()


# --- what devices report ----------------------------------------------------------------------


def _entry_for(
    db_session: Session, device_id: str, rollout_id: str | None, manifest: str
) -> tuple[Rollout, RolloutDevice] | None:
    query = (
        select(Rollout, RolloutDevice)
        .join(RolloutDevice, RolloutDevice.rollout_id == Rollout.id)
        .where(RolloutDevice.device_id == device_id, Rollout.bundle_id == manifest)
        .order_by(Rollout.created_at.desc())
    )
    if rollout_id is not None:
        query = query.where(Rollout.id == rollout_id)
    row = db_session.execute(query).first()
    if row is None:
        return None
    rollout = lock(db_session, row[0].id)
    entry = _fresh(db_session, row[0].id, device_id)
    return (rollout, entry) if rollout is not None and entry is not None else None


# A terminal state is left only for a later terminal report from the device: updated ->
# rolled_back (it came up, then fell back), failed -> updated (a real late success, e.g. after
# a timeout). Never back to an unfinished state: a late "downloading" after a timeout does not
# make the device servable again.
_LEAVES = {
    DeviceState.updated.value: {DeviceState.rolled_back.value},
    DeviceState.failed.value: {DeviceState.updated.value},
    DeviceState.rolled_back.value: set(),
}


def _may_become(entry: RolloutDevice, state: str) -> bool:
    return entry.state not in _TERMINAL or state in _LEAVES[entry.state]


def apply_report(
    *, db_session: Session, device_id: str, seq: int, body: dict[str, Any], clock: Clock
) -> RolloutDevice | None:
    """Apply an ``ota`` event body (checked by ingest) to the entry it names; None when it
    names none. An event older (lower seq) than the last one applied changes nothing."""
    found = _entry_for(db_session, device_id, body["rollout"], body["manifest"])
    if found is None:
        logger.info(
            "%s: ota %s for no rollout of its (%s)", device_id, body["state"], body["rollout"]
        )
        return None
    rollout, entry = found
    if seq <= entry.event_seq:
        return entry
    if not _may_become(entry, body["state"]):
        logger.info(
            "%s: late ota %s ignored, the entry is %s", device_id, body["state"], entry.state
        )
        return entry
    entry.event_seq = seq
    entry.done = int(body["done"])
    entry.total = int(body["total"])
    _set(entry, DeviceState(body["state"]), body["reason"], clock.now())
    evaluate(db_session=db_session, rollout=rollout, clock=clock)
    return entry


def apply_ack(
    *, db_session: Session, cmd: Command, seq: int, status: str, detail: str, clock: Clock
) -> None:
    """The device's answer to an ``ota`` command: "accepted" (download started) or a refusal
    (failed / refused, ``detail`` the reason)."""
    args = cmd.args
    found = _entry_for(db_session, cmd.device_id, args.get("rollout"), str(args.get("manifest")))
    if found is None:
        return
    rollout, entry = found
    if entry.command_id != cmd.id or seq <= entry.event_seq or entry.state in _TERMINAL:
        return
    entry.event_seq = seq
    if status == CommandStatus.succeeded.value:
        if entry.state == DeviceState.queued.value:
            _set(entry, DeviceState.downloading, None, clock.now())
        return
    _set(entry, DeviceState.failed, detail or status, clock.now())
    evaluate(db_session=db_session, rollout=rollout, clock=clock)


def time_out_due(*, db_session: Session, clock: Clock) -> int:
    """Devices not finished ``device_timeout_s`` after their command was queued fail with
    reason "timeout"; returns how many."""
    now = clock.now()
    rows = db_session.execute(
        select(
            Rollout.id, Rollout.device_timeout_s, RolloutDevice.device_id, RolloutDevice.queued_at
        )
        .join(RolloutDevice, RolloutDevice.rollout_id == Rollout.id)
        .where(RolloutDevice.state.in_(_IN_PROGRESS), RolloutDevice.queued_at.is_not(None))
        .order_by(Rollout.id)
    ).all()
    due: dict[str, list[str]] = {}
    for rollout_id, timeout_s, device_id, queued_at in rows:
        if queued_at is not None and queued_at + timedelta(seconds=timeout_s) <= now:
            due.setdefault(rollout_id, []).append(device_id)
    n = 0
    for rollout_id, device_ids in due.items():  # locks taken in id order
        rollout = lock(db_session, rollout_id)
        if rollout is None:
            continue
        for device_id in device_ids:
            entry = _fresh(db_session, rollout_id, device_id)
            if entry is None or entry.state not in _IN_PROGRESS or entry.queued_at is None:
                continue  # finished (or left) since it was found
            if entry.queued_at + timedelta(seconds=rollout.device_timeout_s) <= now:
                _set(entry, DeviceState.failed, "timeout", now)
                n += 1
        evaluate(db_session=db_session, rollout=rollout, clock=clock)
    return n


def supervise(*, db_session: Session, clock: Clock) -> int:
    """The timer's pass: timeouts, then every active rollout evaluated and its stage queued."""
    n = time_out_due(db_session=db_session, clock=clock)
    running = db_session.scalars(
        select(Rollout.id).where(Rollout.state == RolloutState.running.value).order_by(Rollout.id)
    ).all()
    for rollout_id in running:
        rollout = lock(db_session, rollout_id)
        if rollout is None or rollout.state != RolloutState.running.value:
            continue  # paused, cancelled or completed since
        queue_stage(db_session=db_session, rollout=rollout, clock=clock)
        evaluate(db_session=db_session, rollout=rollout, clock=clock)
    return n
