"""Small builders for hub tests: events as the ingest worker hands them over, devices."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.devices.models import Device
from hub.media.service import announce_blob, store_chunks
from hub.media.store import BlobStore
from protocol.limits import CHUNK_SIZE

GRID = "33010200100101"  # first demo grid (Qingbo Street, Qinghefang Community)
OTHER_STREET_GRID = "33010200200101"
GRID_LAT, GRID_LON = 30_251_000, 120_171_000
PHOTO_BYTES = b"\xff\xd8\xff\xe0" + b"on-site photo " * 100
PHOTO = {"sha256": hashlib.sha256(PHOTO_BYTES).hexdigest(), "size": 1404, "mime": "image/jpeg"}
UNSTORED_PHOTO = {"sha256": "ab" * 32, "size": 1234, "mime": "image/jpeg"}  # no such bytes


def store_blob(
    db_session: Session,
    store: BlobStore,
    *,
    at: datetime,
    data: bytes = PHOTO_BYTES,
    grid: str | None = GRID,
    mime: str = "image/jpeg",
    device_id: str = "hh-0001",
) -> dict[str, Any]:
    """Announce ``data`` as a device of ``grid`` would and store all its chunks (the ingest's
    own path): a complete, hash-checked blob referenced in ``grid``. Returns its blob ref."""
    ref = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "mime": mime}
    blob = announce_blob(
        db_session=db_session, ref=ref, device_id=device_id, grid_code=grid, at=at, store=store
    )
    total = blob.total_chunks
    chunks = [(i, total, data[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]) for i in range(total)]
    store_chunks(db_session=db_session, store=store, sha256=ref["sha256"], chunks=chunks, at=at)
    db_session.flush()
    return ref


def report_event(
    *,
    seq: int,
    at: datetime,
    grid: str = GRID,
    category: str = "road_damage",
    lat_e6: int = GRID_LAT,
    lon_e6: int = GRID_LON,
    worker: str = "w00100101",
    device_id: str = "hh-0001",
    text: str = "pothole in front of no. 12",
    historical: bool = False,
) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "seq": seq,
        "ts": int(at.timestamp()),
        "kind": "report",
        "body": {
            "category": category,
            "text": text,
            "grid": grid,
            "worker": worker,
            "loc": {"lat_e6": lat_e6, "lon_e6": lon_e6, "acc_m": 8},
        },
        "blobs": [PHOTO],
        "grid_code": grid,
        "worker_id": worker,
        "historical": historical,
    }


def verify_event(
    *,
    seq: int,
    at: datetime,
    case_id: int,
    task_id: str,
    result: str = "confirm",
    lat_e6: int = GRID_LAT,
    lon_e6: int = GRID_LON,
    device_id: str = "hh-0001",
    worker: str = "w00100101",
    blobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "seq": seq,
        "ts": int(at.timestamp()),
        "kind": "verify",
        "body": {
            "case_id": case_id,
            "task_id": task_id,
            "result": result,
            "loc": {"lat_e6": lat_e6, "lon_e6": lon_e6, "acc_m": 5},
            "text": "fixed, checked on site",
        },
        "blobs": [PHOTO] if blobs is None else blobs,
        "grid_code": GRID,
        "worker_id": worker,
        "historical": False,
    }


def add_handheld(
    db_session: Session, *, device_id: str = "hh-0001", grid: str = GRID, at: datetime
) -> Device:
    device = Device(
        id=device_id,
        kind="handheld",
        public_key="11" * 32,
        status="active",
        grid_code=grid,
        registered_at=at,
        online=True,
    )
    db_session.add(device)
    db_session.flush()
    return device
