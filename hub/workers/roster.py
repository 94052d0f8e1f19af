"""The worker list of a grid, as its handheld gets it in a signed ``workers`` command:
``{"v": <version>, "grid": <code>, "workers": {<id>: [salt_hex, iterations, hash_hex]}}``.

A worker is on a grid's list when active, linked to the grid (``WorkerGrid``) and with a PIN.
The version is the first 16 hex digits of the SHA-256 of the list's canonical JSON, so any
change (a PIN, a link, a worker deactivated) gives a new one and the same list the same one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.areas.models import Worker, WorkerGrid
from hub.errors import InvalidInputError
from hub.workers.models import DeviceWorkerList, WorkerPin
from protocol import canonical

# what one list holds: ~120 bytes a record in a 16 KiB command, and ~380 bytes of heap each on
# a 192K handheld once parsed; the handheld refuses more (apps/handheld/roster.py MAX_WORKERS)
MAX_WORKERS = 32

Records = dict[str, list[Any]]


def records_for(db_session: Session, grids: Iterable[str]) -> dict[str, Records]:
    """The list records of each grid in ``grids`` (grids with none get ``{}``)."""
    wanted = sorted(set(grids))
    out: dict[str, Records] = {g: {} for g in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = db_session.execute(
            select(
                WorkerGrid.grid_code,
                WorkerPin.worker_id,
                WorkerPin.salt_hex,
                WorkerPin.iterations,
                WorkerPin.hash_hex,
            )  # fmt: skip
            .join(Worker, Worker.id == WorkerGrid.worker_id)
            .join(WorkerPin, WorkerPin.worker_id == Worker.id)
            .where(WorkerGrid.grid_code.in_(chunk), Worker.active.is_(True))
        ).all()
        for grid, wid, salt, n, digest in rows:
            out[grid][wid] = [salt, n, digest]
    return out


def version_of(grid: str, records: Records) -> str:
    blob = canonical.dumps({"grid": grid, "workers": records})
    return hashlib.sha256(blob).hexdigest()[:16]


def command_args(grid: str, records: Records) -> dict[str, Any]:
    """The ``workers`` command's args; ``InvalidInputError`` past ``MAX_WORKERS``."""
    if len(records) > MAX_WORKERS:
        raise InvalidInputError(
            f"grid {grid} has {len(records)} workers with a PIN; a handheld takes {MAX_WORKERS}",
            code="too_many_workers",
        )
    return {"v": version_of(grid, records), "grid": grid, "workers": records}


def _insert(db_session: Session) -> Any:
    dialect = db_session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


def note_version(*, db_session: Session, device_id: str, version: str, at: datetime) -> None:
    """The worker list version a handheld says it holds (every heartbeat of a handheld that
    holds one: one statement, a write only when it changed)."""
    stmt = _insert(db_session)(DeviceWorkerList).values(
        device_id=device_id, version=version[:64], reported_at=at
    )
    excluded = stmt.excluded
    db_session.execute(
        stmt.on_conflict_do_update(
            index_elements=[DeviceWorkerList.device_id],
            set_={"version": excluded.version, "reported_at": excluded.reported_at},
            where=DeviceWorkerList.version != excluded.version,
        )
    )


def note_refused(*, db_session: Session, device_id: str, version: str, at: datetime) -> None:
    """A list version the handheld failed to apply: not sent again until the list changes."""
    row = db_session.get(DeviceWorkerList, device_id)
    if row is None:
        row = DeviceWorkerList(device_id=device_id, version="", reported_at=at)
        db_session.add(row)
    row.refused = version[:64]
    db_session.flush()


def forget_version(*, db_session: Session, device_id: str, at: datetime) -> None:
    """A handheld that once held a list says it holds none now (one UPDATE, which changes
    nothing for a handheld never sent one)."""
    db_session.execute(
        update(DeviceWorkerList)
        .where(DeviceWorkerList.device_id == device_id, DeviceWorkerList.version != "")
        .values(version="", reported_at=at)
    )
