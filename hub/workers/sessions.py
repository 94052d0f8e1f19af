"""Sign-in sessions, derived from each handheld's signed ``signin`` / ``signout`` events in
chain order, and the check of every event that names a worker.

Events may arrive out of order (a gap filled later, an outbox flushed after a day offline), so
nothing here is incremental: a sign event rebuilds the device's sessions from the session
before it onward, then re-checks the device's worker-naming events from there. The same
events always give the same sessions and checks, whatever order they came in.

Online time is the sum of the sessions' overlaps with a period. An open session (no sign-out
yet) counts up to its device's last message (``Device.last_seen``: an event or a heartbeat),
so a handheld whose battery died mid-shift does not keep earning its worker online time, and a
live one is at most a heartbeat behind.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from hub.areas.models import WorkerGrid
from hub.devices.models import Device
from hub.events.models import Event
from hub.workers.models import WorkerCheck, WorkerSession

SIGN_KINDS = ("signin", "signout")
# event kinds that name the worker who made them, and are checked against the sessions
CHECKED_KINDS = ("report", "verify", "task", "visit", "collect")
REASONS = ("worker", "idle", "replaced", "removed")


def _worker(body: Any) -> str | None:
    w = body.get("worker") if isinstance(body, dict) else None
    return w[:64] if isinstance(w, str) and w else None


def _listed(db_session: Session, worker: str, grid: str | None) -> bool:
    if grid is None:
        return False
    return db_session.get(WorkerGrid, (worker, grid)) is not None


def rebuild(*, db_session: Session, device_id: str, from_seq: int) -> None:
    """The device's sessions from the one open at ``from_seq`` onward, then its checks.
    Flushes; the caller commits."""
    anchor = db_session.scalar(
        select(WorkerSession.start_seq)
        .where(WorkerSession.device_id == device_id, WorkerSession.start_seq < from_seq)
        .order_by(WorkerSession.start_seq.desc())
        .limit(1)
    )
    start = anchor if anchor is not None else 0
    # whether the hub listed the worker for the grid is kept from the sign-in's first rebuild:
    # unlinking a worker later must not flag the reports of their past sessions
    listed_then = dict(
        db_session.execute(
            select(WorkerSession.start_seq, WorkerSession.listed).where(
                WorkerSession.device_id == device_id, WorkerSession.start_seq >= start
            )
        ).all()
    )
    db_session.execute(
        delete(WorkerSession).where(
            WorkerSession.device_id == device_id, WorkerSession.start_seq >= start
        )
    )
    events = db_session.execute(
        select(Event.seq, Event.ts, Event.kind, Event.body, Event.grid_code)
        .where(Event.device_id == device_id, Event.kind.in_(SIGN_KINDS), Event.seq >= start)
        .order_by(Event.seq)
    ).all()
    open_: WorkerSession | None = None
    for seq, ts, kind, body, grid in events:
        worker = _worker(body)
        if kind == "signin":
            if not (isinstance(body, dict) and body.get("ok") is True) or worker is None:
                continue
            if open_ is not None:
                if open_.worker_id == worker:
                    continue  # signed in again while in: the same session goes on
                open_.end_seq, open_.ended_ts, open_.end_reason = seq, ts, "replaced"
            grid = grid or (body.get("grid") if isinstance(body.get("grid"), str) else None)
            open_ = WorkerSession(
                device_id=device_id,
                worker_id=worker,
                grid_code=grid,
                listed=listed_then.get(seq, None)
                if seq in listed_then
                else _listed(db_session, worker, grid),
                start_seq=seq,
                started_ts=ts,
            )
            db_session.add(open_)
        elif open_ is not None and (worker is None or worker == open_.worker_id):
            reason = body.get("reason") if isinstance(body, dict) else None
            reason = reason if reason in REASONS else "worker"
            ended = ts
            last = body.get("last_active") if isinstance(body, dict) else None
            if reason == "idle" and isinstance(last, int) and not isinstance(last, bool):
                ended = max(open_.started_ts, min(ts, last))  # idle: online to the last use
            open_.end_seq, open_.ended_ts, open_.end_reason = seq, ended, reason
            open_ = None
    db_session.flush()
    recheck(db_session=db_session, device_id=device_id, from_seq=start)


def _status(sessions: list[WorkerSession], seq: int, worker: str | None) -> str:
    if worker is None:
        return "anonymous"
    for s in sessions:  # sorted by start_seq; a few a day
        if s.start_seq < seq and (s.end_seq is None or seq < s.end_seq):
            if s.worker_id != worker:
                return "not_signed_in"
            return "signed_in" if s.listed else "not_on_grid"
    return "not_signed_in"


def check(*, db_session: Session, event: dict[str, Any]) -> str:
    """Record whether the worker an event (``hub.ingest.hooks.event_dict``) names was signed
    in on its device when it was made; returns the status. Flushes."""
    device_id, seq, worker = event["device_id"], event["seq"], _worker(event["body"])
    status = _status(_sessions_around(db_session, device_id, seq, seq), seq, worker)
    row = db_session.get(WorkerCheck, event["id"])
    if row is None:
        db_session.add(WorkerCheck(event_id=event["id"], device_id=device_id, seq=seq,
                                   kind=event["kind"], worker_id=worker,
                                   status=status))  # fmt: skip
    else:
        row.status = status
    db_session.flush()
    return status


def _sessions_around(db_session: Session, device_id: str, lo: int, hi: int) -> list[WorkerSession]:
    return list(
        db_session.scalars(
            select(WorkerSession)
            .where(
                WorkerSession.device_id == device_id,
                WorkerSession.start_seq < hi,
                or_(WorkerSession.end_seq.is_(None), WorkerSession.end_seq > lo),
            )
            .order_by(WorkerSession.start_seq)
        )
    )


def recheck(*, db_session: Session, device_id: str, from_seq: int) -> int:
    """Check again the device's worker-naming events from ``from_seq``; returns how many
    changed status."""
    rows = db_session.execute(
        select(Event.id, Event.seq, Event.kind, Event.body)
        .where(Event.device_id == device_id, Event.kind.in_(CHECKED_KINDS), Event.seq >= from_seq)
        .order_by(Event.seq)
    ).all()
    if not rows:
        return 0
    sessions = _sessions_around(db_session, device_id, rows[0].seq, rows[-1].seq + 1)
    have = {
        c.event_id: c
        for c in db_session.scalars(
            select(WorkerCheck).where(WorkerCheck.event_id.in_([r.id for r in rows]))
        )
    }
    changed = 0
    for event_id, seq, kind, body in rows:
        status = _status(sessions, seq, _worker(body))
        row = have.get(event_id)
        if row is None:
            row = WorkerCheck(event_id=event_id, device_id=device_id, seq=seq, kind=kind)
            row.worker_id, row.status = _worker(body), status
            db_session.add(row)
            changed += 1
        elif row.status != status:
            row.status = status
            changed += 1
    db_session.flush()
    return changed


def online_seconds(
    *, db_session: Session, start: datetime, end: datetime, scope_code: str | None
) -> dict[str, int]:
    """Seconds each worker was signed in during [start, end), from the sessions (an open one
    counts up to its device's last message); with ``scope_code``, only sessions on grids
    inside it."""
    lo, hi = int(start.timestamp()), int(end.timestamp())
    query = (
        select(WorkerSession, Device.last_seen)
        .join(Device, Device.id == WorkerSession.device_id)
        .where(
            WorkerSession.started_ts < hi,
            or_(WorkerSession.ended_ts.is_(None), WorkerSession.ended_ts > lo),
        )
    )
    if scope_code is not None:
        query = query.where(
            and_(
                WorkerSession.grid_code.is_not(None),
                WorkerSession.grid_code.startswith(scope_code, autoescape=True),
            )
        )
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for s, last_seen in db_session.execute(query).all():
        if s.ended_ts is not None:
            stop = s.ended_ts
        else:
            stop = int(last_seen.timestamp()) if last_seen is not None else s.started_ts
        a, b = max(s.started_ts, lo), min(stop, hi)
        if b > a:
            spans[s.worker_id].append((a, b))
    total: dict[str, int] = {}
    for worker, parts in spans.items():  # signed in on two handhelds at once counts once
        seconds, reach = 0, None
        for a, b in sorted(parts):
            if reach is not None and a < reach:
                a = reach
            if b > a:
                seconds += b - a
            reach = b if reach is None else max(reach, b)
        total[worker] = seconds
    return total
