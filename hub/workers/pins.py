"""Workers' PINs: validated, salted and slow-hashed (PBKDF2-HMAC-SHA256, byte-identical to
``protocol.pin`` as the shared vectors show); the hub keeps only the record."""

from __future__ import annotations

import hashlib
import os
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.areas.models import Worker, WorkerGrid
from hub.clock import Clock
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.workers import roster
from hub.workers.models import WorkerPin
from protocol import pin as pin_mod

PIN_RE = re.compile(r"^[0-9]{4,8}$")
# PINs no one should be given: the same digit, or a run up or down
_WEAK = {"0123456789"[i : i + n] for n in range(4, 9) for i in range(11 - n)}
_WEAK |= {s[::-1] for s in _WEAK} | {d * n for d in "0123456789" for n in range(4, 9)}


def check_pin(pin: str) -> None:
    """``InvalidInputError`` unless ``pin`` is 4-8 digits and not a trivial one."""
    if not PIN_RE.match(pin):
        raise InvalidInputError("a PIN is 4 to 8 digits", code="bad_pin")
    if pin in _WEAK:
        raise InvalidInputError(
            "this PIN is too easy to guess (one digit repeated, or a run)", code="weak_pin"
        )


def make_record(pin: str, iterations: int) -> tuple[str, int, str]:
    """A fresh record ``(salt_hex, iterations, hash_hex)``: random salt, the C PBKDF2."""
    salt = os.urandom(pin_mod.SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return salt.hex(), iterations, digest.hex()


def set_pin(
    *, db_session: Session, worker_id: str, pin: str, iterations: int, clock: Clock, by: str
) -> WorkerPin:
    """Set (or replace) a worker's PIN; the grid's handhelds get the new list on the next
    worker-list pass (``hub.commands.worker_sync``). Flushes; the caller commits."""
    if db_session.get(Worker, worker_id) is None:
        raise NotFoundError(f"worker {worker_id} not found", code="worker_not_found")
    check_pin(pin)
    for grid, holders in _pin_holders(db_session, worker_id).items():
        if holders >= roster.MAX_WORKERS:
            raise ConflictError(
                f"grid {grid} already has {holders} workers with a PIN: its handheld's list "
                f"takes {roster.MAX_WORKERS}",
                code="too_many_workers",
            )
    salt, n, digest = make_record(pin, iterations)
    row = db_session.get(WorkerPin, worker_id)
    if row is None:
        row = WorkerPin(worker_id=worker_id)
        db_session.add(row)
    row.salt_hex, row.iterations, row.hash_hex = salt, n, digest
    row.set_at, row.set_by = clock.now(), by
    db_session.flush()
    return row


def _pin_holders(db_session: Session, worker_id: str) -> dict[str, int]:
    """For each grid of the worker: the other active workers with a PIN on it."""
    grids = select(WorkerGrid.grid_code).where(WorkerGrid.worker_id == worker_id)
    rows = db_session.execute(
        select(WorkerGrid.grid_code, func.count())
        .join(Worker, Worker.id == WorkerGrid.worker_id)
        .join(WorkerPin, WorkerPin.worker_id == Worker.id)
        .where(
            WorkerGrid.grid_code.in_(grids),
            Worker.active.is_(True),
            WorkerGrid.worker_id != worker_id,
        )
        .group_by(WorkerGrid.grid_code)
    ).all()
    return {grid: int(n) for grid, n in rows}


def clear_pin(*, db_session: Session, worker_id: str) -> bool:
    """Remove a worker's PIN (the worker can no longer sign in anywhere); True if one was set."""
    row = db_session.get(WorkerPin, worker_id)
    if row is None:
        return False
    db_session.delete(row)
    db_session.flush()
    return True
