"""The batch path: a batch's verified events stored, chained and hooked in one transaction.

``store_batch`` is what ``EventIngest`` tries first for every batch without a revoked device.
Its statements, whatever the number of devices in the batch:

1. take the write lock (SQLite: a no-op UPDATE of one device row, so the heads read next
   cannot change before the commit; PostgreSQL: the device rows are read ``FOR UPDATE`` in
   id order, so two workers lock them in the same order);
2. one SELECT of the batch's devices' heads (``last_seq``, ``chain_head``, ``max_seq``,
   ``announced_seq``);
3. the digests of the candidates whose seq is at or below the device's ``max_seq`` (the
   highest seq stored, kept in the same transaction as every insert), usually none: a new
   event's seq is above it;
4. one multi-row INSERT of the events, each already ``linked`` when it continues its device's
   head (the common case), else ``pending``; one executemany UPDATE of the devices (head,
   ``max_seq``, ``announced_seq``, ``last_seen``);
5. ``events.advance_chain`` only for the devices whose events did not simply continue the head
   (a gap, a break, earlier events stored out of order);
6. the after-store hooks of the kinds the flows take, without a savepoint each;
7. one commit.

Anything unexpected on the way (a hook raising, a constraint violated by a writer that took no
lock) raises ``BatchAborted`` after the transaction was rolled back; the caller then stores the
batch the careful way (``EventIngest``'s per-event path: a savepoint per hook, one event per
transaction after a race), so the fast path never decides what happens to a bad case, it only
makes the good case cheap. Rejections found here (duplicates, replays) are returned, not
reported, so a fallback never counts one twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from hub.clock import from_unix
from hub.commands.service import record_ack
from hub.devices.models import Device
from hub.events import service as events
from hub.events.models import ChainStatus, Event
from hub.media import service as media
from hub.media.store import BlobStore
from protocol.limits import GENESIS

if TYPE_CHECKING:
    from hub.ingest.candidate import Candidate
    from hub.ingest.hooks import EventHook

IN_CHUNK = 500  # ids per IN (...) list
_HEAD_COLUMNS = ("last_seen", "max_seq", "announced_seq", "last_seq", "chain_head")


class BatchAborted(Exception):
    """The batch path gave up (rolled back); store the batch the careful way."""


@dataclass
class BatchOutcome:
    stored: int = 0
    # (reason, device, detail) of duplicates / replays, for the caller to report on success
    rejects: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Head:
    last_seq: int
    chain_head: str
    max_seq: int
    announced_seq: int


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), IN_CHUNK):
        yield ids[i : i + IN_CHUNK]


# The statements of a batch, built once: building a statement costs more than running it on a
# small batch (the IN lists are expanding bind parameters, so one compiled form serves all).
_devices = cast(Table, Device.__table__)
_events = cast(Table, Event.__table__)
_LOCK = update(_devices).where(_devices.c.id == bindparam("dev")).values(max_seq=_devices.c.max_seq)
_HEADS = (
    select(
        _devices.c.id,
        _devices.c.last_seq,
        _devices.c.chain_head,
        _devices.c.max_seq,
        _devices.c.announced_seq,
    )
    .where(_devices.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_devices.c.id)
    .with_for_update()
)
_EVENT_COLUMNS = tuple(c.key for c in _events.c if c.key != "id")


class _Many:
    """A Core INSERT / UPDATE run as one DB-API ``executemany`` on the session's connection
    (so in its transaction), every value passed through its column type's own bind processor
    (``dialect_impl(dialect).bind_processor``: what ``Connection.execute`` would apply). It
    skips SQLAlchemy's per-row bookkeeping, which was a fifth of the ingest thread's time with
    500 devices in a batch; repeated values of a batch (its ``received_at``) are processed once.
    Returns nothing: ids are read back where needed (``_event_ids``)."""

    def __init__(self, stmt: Any, keys: tuple[str, ...]) -> None:
        self.stmt = stmt
        self.keys = keys
        self._plans: dict[tuple[str, str], tuple[str, list[tuple[str, Any]], bool]] = {}

    def _plan(self, dialect: Any) -> tuple[str, list[tuple[str, Any]], bool]:
        key = (dialect.name, dialect.driver)  # processors differ by driver (JSON on psycopg)
        plan = self._plans.get(key)
        if plan is None:
            compiled = self.stmt.compile(dialect=dialect, column_keys=list(self.keys))
            names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
            binds = [
                (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                for name in names
            ]
            plan = self._plans[key] = (compiled.string, binds, compiled.positional)
        return plan

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        sql, binds, positional = self._plan(conn.dialect)
        seen: dict[tuple[str, int], Any] = {}  # (bind, id(value)) -> processed, this call only

        def value(name: str, proc: Any, row: dict[str, Any]) -> Any:
            raw = row[name]
            if proc is None or raw is None:
                return raw
            if isinstance(raw, datetime):
                key = (name, id(raw))
                if key not in seen:
                    seen[key] = proc(raw)
                return seen[key]
            return proc(raw)

        if positional:
            params: list[Any] = [tuple(value(n, p, row) for n, p in binds) for row in rows]
        else:
            params = [{n: value(n, p, row) for n, p in binds} for row in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, params)
        finally:
            cursor.close()


_INSERT = _Many(insert(_events).inline(), _EVENT_COLUMNS)  # inline: no RETURNING of the id
_MOVE = _Many(
    update(_devices)
    .where(_devices.c.id == bindparam("dev"))
    .values({c: bindparam(c) for c in _HEAD_COLUMNS}),
    ("dev", *_HEAD_COLUMNS),
)
_IDS = select(_events.c.id, _events.c.device_id, _events.c.seq).where(
    _events.c.device_id.in_(bindparam("devs", expanding=True)),
    _events.c.seq.in_(bindparam("seqs", expanding=True)),
)


def _event_ids(conn: Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The ids of the stored events ``keys`` (device, seq): those the hooks take, a few."""
    out: dict[tuple[str, int], int] = {}
    wanted = set(keys)
    for i in range(0, len(keys), IN_CHUNK):
        part = keys[i : i + IN_CHUNK]
        params = {"devs": sorted({d for d, _s in part}), "seqs": sorted({s for _d, s in part})}
        for event_id, dev, seq in conn.execute(_IDS, params):
            if (dev, seq) in wanted:
                out[(dev, seq)] = event_id
    return out


def lock_heads(db_session: Session, device_ids: list[str]) -> dict[str, _Head]:
    """Take the write lock and read the devices' chain heads under it."""
    conn = db_session.connection()  # Core statements on the session's connection: no ORM work
    if conn.dialect.name == "sqlite":
        # SQLite locks the whole database for the first write; a no-op UPDATE takes it now
        conn.execute(_LOCK, {"dev": device_ids[0]})
    heads: dict[str, _Head] = {}
    for part in _chunks(device_ids):
        for dev, last_seq, chain_head, max_seq, announced in conn.execute(_HEADS, {"ids": part}):
            heads[dev] = _Head(last_seq, chain_head, max_seq, announced or 0)
    return heads


def _continues(head: _Head, cands: list[Candidate]) -> bool:
    """True when ``cands`` (by seq) extend the device's head with nothing stored above it."""
    if head.last_seq != head.max_seq:
        return False
    seq, digest = head.last_seq, head.chain_head
    for cand in cands:
        if cand.env["seq"] != seq + 1:
            return False
        prev = cand.env["prev"]
        if not (prev == digest or (seq == 0 and prev == GENESIS)):
            return False
        seq, digest = cand.env["seq"], cand.digest
    return True


def store_batch(
    db_session: Session,
    fresh: dict[tuple[str, int], Candidate],
    now: datetime,
    touched: dict[str, set[str]],
    *,
    store: BlobStore,
    on_event: EventHook,
    hook_kinds: frozenset[str] | None,
) -> BatchOutcome:
    """Store ``fresh`` (verified candidates, no revoked device among them) in one transaction
    and commit; raise ``BatchAborted`` (rolled back) when the careful path must decide."""
    try:
        return _store(db_session, fresh, now, touched, store, on_event, hook_kinds)
    except Exception as exc:
        db_session.rollback()
        raise BatchAborted(f"{type(exc).__name__}: {exc}"[:300]) from exc


def _store(
    db_session: Session,
    fresh: dict[tuple[str, int], Candidate],
    now: datetime,
    touched: dict[str, set[str]],
    store: BlobStore,
    on_event: EventHook,
    hook_kinds: frozenset[str] | None,
) -> BatchOutcome:
    out = BatchOutcome()
    ids = sorted({dev for dev, _seq in fresh})
    heads = lock_heads(db_session, ids)
    maybe = [key for key in fresh if key[1] <= heads[key[0]].max_seq]
    if maybe:
        for key, digest in events.existing_digests(db_session=db_session, keys=maybe).items():
            cand = fresh.pop(key)
            seq = cand.env["seq"]
            if digest == cand.digest:
                out.rejects.append((events.DUPLICATE, cand.device_id, f"seq {seq}"))
            else:
                detail = f"seq {seq} with different content"
                out.rejects.append(("replayed", cand.device_id, detail))
            touched[key[0]]  # noqa: B018 - a resend deserves a receipt too
    by_device: dict[str, list[Candidate]] = {}
    for (dev, _seq), cand in sorted(fresh.items()):
        by_device.setdefault(dev, []).append(cand)
        touched[dev]  # noqa: B018
    if not by_device:
        db_session.commit()
        return out
    device_rows: list[dict[str, object]] = []
    slow: list[str] = []
    status: dict[str, str] = {}
    for dev, cands in by_device.items():
        head = heads[dev]
        linked = _continues(head, cands)
        status[dev] = ChainStatus.linked.value if linked else ChainStatus.pending.value
        top = cands[-1].env["seq"]
        last = cands[-1] if linked else None
        device_rows.append(
            {
                "dev": dev,
                "last_seen": now,
                "max_seq": max(head.max_seq, top),
                "announced_seq": max(head.announced_seq, top),
                "last_seq": top if last else head.last_seq,
                "chain_head": last.digest if last else head.chain_head,
            }
        )
        if not linked:
            slow.append(dev)
    ordered = list(fresh.values())  # arrival order: first announcer of a blob first, hooks too
    rows = [event_row(cand, now, status[cand.device_id]) for cand in ordered]
    conn = db_session.connection()  # Core: no ORM bulk bookkeeping
    _INSERT.run(conn, rows)
    _MOVE.run(conn, device_rows)
    for dev in slow:  # a gap, a break, or events stored out of order earlier
        events.advance_chain(db_session=db_session, device_id=dev, at=now)
    hooked = [c for c in ordered if hook_kinds is None or c.env["kind"] in hook_kinds]
    keys = [(c.device_id, c.env["seq"]) for c in hooked]
    event_ids = _event_ids(conn, keys) if hooked else {}
    hooked_ids = {id(c) for c in hooked}
    for cand in ordered:
        announce_blobs(db_session, cand, now, store, touched)
        if id(cand) in hooked_ids:
            event_id = event_ids[(cand.device_id, cand.env["seq"])]
            run_hooks(db_session, _transient(cand, event_id, now), on_event)
    db_session.commit()
    out.stored = len(rows)
    return out


def run_hooks(db_session: Session, event: Event, on_event: EventHook) -> None:
    """A stored event's after-store step (both paths): an ack updates its command, then
    ``on_event`` (the case workflow's flows)."""
    if event.kind == "ack":
        record_ack(
            db_session=db_session,
            device_id=event.device_id,
            body=event.body,
            raw=event.raw,
            at=event.received_at,
        )
    on_event(db_session, event)


def announce_blobs(
    db_session: Session,
    cand: Candidate,
    now: datetime,
    store: BlobStore,
    touched: dict[str, set[str]],
) -> None:
    """The blob rows of a stored envelope's ``blobs`` (both paths), named in its receipt."""
    for ref in cand.env["blobs"]:
        media.announce_blob(
            db_session=db_session,
            ref=ref,
            device_id=cand.device_id,
            grid_code=cand.grid_code,
            at=now,
            store=store,
        )
        touched[cand.device_id].add(ref["sha256"])


def event_row(cand: Candidate, now: datetime, chain: str) -> dict[str, Any]:
    """The events row of ``cand`` (both paths)."""
    env = cand.env
    return {
        "device_id": cand.device_id,
        "seq": env["seq"],
        "kind": env["kind"],
        "ts": env["ts"],
        "captured_at": from_unix(env["ts"]),
        "received_at": now,
        "historical": cand.historical,
        "grid_code": cand.grid_code,
        "body": env["body"],
        "blobs": env["blobs"],
        "digest": cand.digest,
        "prev": env["prev"],
        "chain": chain,
        "raw": cand.raw,
    }


def _transient(cand: Candidate, event_id: int, now: datetime) -> Event:
    """The stored event as the hooks take it (not attached to the session)."""
    row = event_row(cand, now, ChainStatus.pending.value)
    return Event(id=event_id, **row)
