"""Events: storing verified envelopes, the hash chain, rejection counters, queries."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.devices.models import Device
from hub.events.models import ChainGap, ChainGapKind, ChainStatus, Event, RejectionCounter
from protocol.limits import GENESIS

# Rejection reasons (docs/protocol.md section 10) plus ``duplicate``, which is not an error: a
# QoS 1 redelivery of an already stored envelope, counted so operators can see it.
DUPLICATE = "duplicate"
ADVANCE_LIMIT = 5000


def _insert_for(db_session: Session) -> Any:
    return pg_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert


RejectionKey = tuple[str, str]  # (reason, device id or "" when the message named none)


class RejectionTally:
    """In-memory counters of one worker (thread-safe); ``drain`` hands pending ones to the DB.

    Counted per reason and device, so that each area's readers see only their devices' rows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals: Counter[str] = Counter()
        self._pending: Counter[RejectionKey] = Counter()
        self._last: dict[RejectionKey, str] = {}

    def add(self, reason: str, device_id: str | None = None, detail: str = "") -> None:
        key = (reason, device_id or "")
        with self._lock:
            self.totals[reason] += 1
            self._pending[key] += 1
            self._last[key] = detail[:200]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.totals)

    def drain(self) -> tuple[Counter[RejectionKey], dict[RejectionKey, str]]:
        with self._lock:
            pending, last = self._pending, self._last
            self._pending, self._last = Counter(), {}
            return pending, last

    def restore(self, pending: Counter[RejectionKey]) -> None:
        """Put back counts whose database write failed (they are retried with the next batch)."""
        with self._lock:
            self._pending.update(pending)


def persist_rejections(
    *,
    db_session: Session,
    counts: Mapping[RejectionKey, int],
    last: Mapping[RejectionKey, str],
    at: datetime,
) -> None:
    """Add ``counts`` to the persisted counters: one upsert statement for all of them (atomic,
    safe with several workers), executed for every (reason, device) at once."""
    rows = [
        {
            "reason": reason,
            "device_id": device_id,
            "count": n,
            "last_at": at,
            "last_detail": last.get((reason, device_id), ""),
        }
        for (reason, device_id), n in sorted(counts.items())
        if n > 0
    ]
    if rows:
        conn = db_session.connection()
        conn.execute(_counter_upsert(conn.dialect.name), rows)


_UPSERTS: dict[str, Any] = {}


def _counter_upsert(dialect: str) -> Any:
    """The counters' upsert for ``dialect``, built once."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = cast(Table, RejectionCounter.__table__)
        base = insert(table)
        stmt = _UPSERTS[dialect] = base.on_conflict_do_update(
            index_elements=["reason", "device_id"],
            set_={
                "count": table.c.count + base.excluded.count,
                "last_at": base.excluded.last_at,
                "last_detail": base.excluded.last_detail,
            },
        )
    return stmt


def _scoped_counters(scope_code: str | None, *columns: Any) -> Select[Any]:
    query = select(*columns) if columns else select(RejectionCounter)
    if scope_code is not None:  # only devices bound inside the area; never unattributed rows
        query = query.join(Device, Device.id == RejectionCounter.device_id).where(
            Device.grid_code.startswith(scope_code, autoescape=True)
        )
    return query


def rejection_counts(*, db_session: Session, scope_code: str | None = None) -> dict[str, int]:
    """Rejections per reason (of the devices inside ``scope_code``; None: all)."""
    rows = db_session.execute(
        _scoped_counters(
            scope_code, RejectionCounter.reason, func.sum(RejectionCounter.count)
        ).group_by(RejectionCounter.reason)
    )
    return {reason: int(count) for reason, count in rows}


@dataclass
class RejectionSummary:
    """One reason's counters summed over the devices a reader may see; the last one seen."""

    reason: str
    count: int
    last_at: datetime | None
    last_device_id: str | None
    last_detail: str | None


def list_rejections(
    *, db_session: Session, scope_code: str | None = None
) -> list[RejectionSummary]:
    """Per reason, the counters of devices inside ``scope_code`` (None: all, unattributed too)."""
    out: dict[str, RejectionSummary] = {}
    rows = db_session.scalars(
        _scoped_counters(scope_code).order_by(RejectionCounter.reason, RejectionCounter.device_id)
    )
    for row in rows:
        summary = out.setdefault(row.reason, RejectionSummary(row.reason, 0, None, None, None))
        summary.count += row.count
        if summary.last_at is None or (row.last_at is not None and row.last_at >= summary.last_at):
            summary.last_at, summary.last_detail = row.last_at, row.last_detail
            summary.last_device_id = row.device_id or None
    return list(out.values())


def existing_digests(
    *, db_session: Session, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """Digests of already stored envelopes among ``keys`` ((device id, seq) pairs)."""
    by_device: dict[str, list[int]] = {}
    for device_id, seq in keys:
        by_device.setdefault(device_id, []).append(seq)
    found: dict[tuple[str, int], str] = {}
    for device_id, seqs in by_device.items():
        for start in range(0, len(seqs), 500):
            rows = db_session.execute(
                select(Event.seq, Event.digest).where(
                    Event.device_id == device_id, Event.seq.in_(seqs[start : start + 500])
                )
            )
            for seq, digest in rows:
                found[(device_id, seq)] = digest
    return found


def advance_chain(*, db_session: Session, device_id: str, at: datetime) -> Device | None:
    """Move the device's contiguous head over newly stored events, checking every ``prev``.

    Records a ``broken`` ChainGap when an event's ``prev`` is not the digest of the previous one
    and a ``gap`` when later seqs are stored but earlier ones are missing (resolved once they
    arrive). Starts with an UPDATE so SQLite takes its write lock before reading (PostgreSQL
    locks the row), which makes concurrent workers safe. Caller commits.
    """
    top = db_session.scalar(select(func.max(Event.seq)).where(Event.device_id == device_id))
    db_session.execute(
        update(Device)
        .where(Device.id == device_id)
        .values(max_seq=func.max(Device.max_seq, top or 0))
        if db_session.get_bind().dialect.name == "sqlite"
        else update(Device)
        .where(Device.id == device_id)
        .values(max_seq=func.greatest(Device.max_seq, top or 0))
    )
    device = db_session.scalar(
        select(Device)
        .where(Device.id == device_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if device is None:
        return None
    head_seq, head = device.last_seq, device.chain_head
    rows = db_session.execute(
        select(Event.id, Event.seq, Event.digest, Event.prev)
        .where(Event.device_id == device_id, Event.seq > head_seq)
        .order_by(Event.seq)
        .limit(ADVANCE_LIMIT)
    ).all()
    linked: list[int] = []
    next_stored: int | None = None
    for event_id, seq, digest, prev in rows:
        if seq != head_seq + 1:
            next_stored = seq
            break
        if prev == head or (head_seq == 0 and prev == GENESIS):
            linked.append(event_id)
        else:
            db_session.execute(
                update(Event).where(Event.id == event_id).values(chain=ChainStatus.broken.value)
            )
            _record_gap(
                db_session,
                device_id,
                ChainGapKind.broken,
                head_seq,
                seq,
                at,
                f"prev {prev[:16]}... is not the digest of seq {head_seq}",
            )
        head_seq, head = seq, digest
    if linked:
        db_session.execute(
            update(Event).where(Event.id.in_(linked)).values(chain=ChainStatus.linked.value)
        )
    device.last_seq, device.chain_head = head_seq, head
    if next_stored is not None:
        _record_gap(
            db_session, device_id, ChainGapKind.gap, head_seq + 1, next_stored - 1, at, None
        )
    db_session.execute(
        update(ChainGap)
        .where(
            ChainGap.device_id == device_id,
            ChainGap.kind == ChainGapKind.gap.value,
            ChainGap.resolved_at.is_(None),
            ChainGap.to_seq <= head_seq,
        )
        .values(resolved_at=at)
    )
    return device


def _record_gap(
    db_session: Session,
    device_id: str,
    kind: ChainGapKind,
    from_seq: int,
    to_seq: int,
    at: datetime,
    detail: str | None,
) -> None:
    stmt = (
        _insert_for(db_session)(ChainGap)
        .values(
            device_id=device_id,
            kind=kind.value,
            from_seq=from_seq,
            to_seq=to_seq,
            detected_at=at,
            detail=detail,
        )
        .on_conflict_do_nothing()
    )
    db_session.execute(stmt)


def list_events(
    *,
    db_session: Session,
    scope_code: str | None = None,
    device_id: str | None = None,
    kind: str | None = None,
    grid_code: str | None = None,
    since_seq: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Event]:
    query: Select[tuple[Event]] = select(Event)
    if scope_code is not None:
        query = query.where(Event.grid_code.startswith(scope_code))
    if device_id is not None:
        query = query.where(Event.device_id == device_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if grid_code is not None:
        query = query.where(Event.grid_code == grid_code)
    if since_seq is not None:
        query = query.where(Event.seq > since_seq)
    query = query.order_by(Event.received_at.desc(), Event.id.desc())
    return list(db_session.scalars(query.limit(limit).offset(offset)))


def get_event(*, db_session: Session, event_id: int) -> Event | None:
    return db_session.get(Event, event_id)


def list_chain_gaps(
    *,
    db_session: Session,
    device_id: str | None = None,
    open_only: bool = False,
    scope_code: str | None = None,
) -> list[ChainGap]:
    """Chain gaps, optionally only of devices whose grid lies inside ``scope_code``."""
    query = select(ChainGap).order_by(ChainGap.id)
    if scope_code is not None:
        query = query.join(Device, Device.id == ChainGap.device_id).where(
            Device.grid_code.startswith(scope_code)
        )
    if device_id is not None:
        query = query.where(ChainGap.device_id == device_id)
    if open_only:
        query = query.where(ChainGap.resolved_at.is_(None))
    return list(db_session.scalars(query))
