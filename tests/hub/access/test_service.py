"""record_batch: one row per event keyed (device, seq, index), redelivery stores nothing twice,
alarm rows returned, historical kept, bad input refused precisely; captures marked sensitive;
face-capture retention on the controllable clock."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.access.captures import open_capture
from hub.access.models import AccessLogEntry, CaptureAudit
from hub.access.retention import purge_face_captures
from hub.access.service import record_batch
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.errors import InvalidInputError, NotFoundError
from hub.media.models import Blob, SensitiveBlob
from hub.media.store import FileBlobStore
from hub.settings import Settings
from tests.hub.access.conftest import COMMUNITY, GRID
from tests.hub.builders import store_blob

FACE_JPEG = b"\xff\xd8\xff\xe0" + b"face capture " * 300


def batch(ts: int, blob: int | None = 0) -> dict[str, Any]:
    return {
        "community": COMMUNITY,
        "events": [
            {
                "ev": "granted",
                "ts": ts,
                "ms": 120,
                "door": "d1",
                "dir": "in",
                "by": "face",
                "person": "p-12",
                "score": 93,
                "template": "t-0007",
                "blob": blob,
                "lat_ms": 7,
            },
            {
                "ev": "denied",
                "ts": ts + 3,
                "ms": 410,
                "door": "d1",
                "dir": "in",
                "by": "card",
                "reason": "expired",
                "cred": "04A1B2C3",
                "person": "p-40",
                "blob": None,
                "lat_ms": 5,
            },
            {"ev": "door_forced", "ts": ts + 20, "ms": 0, "door": "d1"},
            {
                "ev": "mode",
                "ts": ts + 30,
                "ms": 0,
                "door": "d1",
                "mode": "always_open",
                "cause": "command",
            },
        ],
    }


def test_each_event_is_one_row_and_a_redelivery_stores_nothing_twice(
    db_session: Session, gates: dict[str, Device], clock: FrozenClock, store: FileBlobStore
) -> None:
    at = clock.now()
    ts = int(at.timestamp())
    ref = store_blob(db_session, store, at=at, data=FACE_JPEG, device_id="face-01")
    alarms = record_batch(
        db_session=db_session,
        device=gates["face"],
        seq=5,
        body=batch(ts),
        blobs=[ref],
        historical=False,
        at=at,
    )
    assert [(a.ev, a.idx, a.historical) for a in alarms] == [("door_forced", 2, False)]
    again = record_batch(
        db_session=db_session,
        device=gates["face"],
        seq=5,
        body=batch(ts),
        blobs=[ref],
        historical=False,
        at=at,
    )
    assert again == []
    db_session.commit()
    rows = db_session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.idx)).all()
    assert [(r.seq, r.idx, r.ev, r.is_alarm) for r in rows] == [
        (5, 0, "granted", False),
        (5, 1, "denied", False),
        (5, 2, "door_forced", True),
        (5, 3, "mode", False),
    ]
    granted, denied, _forced, mode = rows
    assert (
        granted.community,
        granted.grid_code,
        granted.direction,
        granted.by,
        granted.person_id,
    ) == (COMMUNITY, GRID, "in", "face", "p-12")
    assert (
        granted.score,
        granted.template,
        granted.blob_sha256,
        granted.latency_ms,
        granted.ms,
    ) == (93, "t-0007", ref["sha256"], 7, 120)
    assert (denied.reason, denied.credential, denied.blob_sha256) == ("expired", "04A1B2C3", None)
    assert mode.detail == {"mode": "always_open", "cause": "command"}
    mark = db_session.get(SensitiveBlob, ref["sha256"])
    assert mark is not None and mark.kind == "face" and mark.captured_at == granted.captured_at


def test_historical_batches_keep_their_flag_and_plates_are_stored(
    db_session: Session, gates: dict[str, Device], clock: FrozenClock
) -> None:
    at = clock.now()
    ts = int(at.timestamp()) - 7200
    body = {
        "events": [
            {
                "ev": "granted",
                "ts": ts,
                "ms": 0,
                "door": "g1",
                "dir": "in",
                "by": "plate",
                "plate": "浙A12345",
                "color": "blue",
                "conf": 97,
                "blob": 0,
                "lat_ms": 6,
            },
            {"ev": "help", "ts": ts + 1, "ms": 0, "door": "g1"},
        ]
    }
    sha = hashlib.sha256(b"plate").hexdigest()
    alarms = record_batch(
        db_session=db_session,
        device=gates["barrier"],
        seq=1,
        body=body,
        blobs=[{"sha256": sha, "size": 5, "mime": "image/jpeg"}],
        historical=True,
        at=at,
    )
    assert [(a.ev, a.historical) for a in alarms] == [("help", True)]
    row = db_session.scalars(select(AccessLogEntry).where(AccessLogEntry.idx == 0)).one()
    assert (row.plate, row.colour, row.score, row.historical) == ("浙A12345", "blue", 97, True)
    assert db_session.get(SensitiveBlob, sha).kind == "plate"  # marked before its chunks arrive


@pytest.mark.parametrize(
    ("body", "blobs", "message"),
    [
        ({"events": []}, [], "non-empty 'events'"),
        ({"events": [{"ev": "granted", "ms": 0}]}, [], r"events\[0\].ts: want an integer"),
        ({"events": [{"ev": "Granted!", "ts": 1, "ms": 0}]}, [], r"events\[0\].ev"),
        (
            {
                "events": [
                    {"ev": "granted", "ts": 1, "ms": 0},
                    {"ev": "granted", "ts": 1, "ms": 1000},
                ]
            },
            [],
            r"events\[1\].ms",
        ),
        ({"events": [{"ev": "granted", "ts": 1, "ms": 0, "dir": "up"}]}, [], r"events\[0\].dir"),
        (
            {"events": [{"ev": "granted", "ts": 1, "ms": 0, "score": True}]},
            [],
            r"events\[0\].score",
        ),
        ({"events": [{"ev": "granted", "ts": 1, "ms": 0, "blob": 0}]}, [], "lists no blobs"),
        (
            {"events": [{"ev": "granted", "ts": 1, "ms": 0, "blob": 1}]},
            [{"sha256": "ab" * 32}],
            r"events\[0\].blob",
        ),
        (
            {"community": "330102002001", "events": [{"ev": "granted", "ts": 1, "ms": 0}]},
            [],
            "the device's is 330102001001",
        ),
    ],
)
def test_bad_batches_are_refused_precisely_and_store_nothing(
    db_session: Session,
    gates: dict[str, Device],
    clock: FrozenClock,
    body: dict[str, Any],
    blobs: list[dict[str, Any]],
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        record_batch(
            db_session=db_session,
            device=gates["face"],
            seq=1,
            body=body,
            blobs=blobs,
            historical=False,
            at=clock.now(),
        )
    assert db_session.scalar(select(func.count()).select_from(AccessLogEntry)) == 0


def test_face_captures_are_purged_after_the_retention_and_audits_stay(
    db_session: Session,
    gates: dict[str, Device],
    clock: FrozenClock,
    store: FileBlobStore,
    settings: Settings,
) -> None:
    assert settings.face_capture_retention_days == 30
    at = clock.now()
    old = store_blob(db_session, store, at=at, data=FACE_JPEG, device_id="face-01")
    record_batch(
        db_session=db_session,
        device=gates["face"],
        seq=1,
        body=batch(int(at.timestamp())),
        blobs=[old],
        historical=False,
        at=at,
    )
    clock.advance(days=10)
    fresh_bytes = FACE_JPEG + b"later"
    fresh = store_blob(db_session, store, at=clock.now(), data=fresh_bytes, device_id="face-01")
    record_batch(
        db_session=db_session,
        device=gates["face"],
        seq=2,
        body=batch(int(clock.now().timestamp())),
        blobs=[fresh],
        historical=False,
        at=clock.now(),
    )
    admin = Principal(name="admin", role=Role.admin)
    open_capture(
        db_session=db_session,
        user=admin,
        sha256=old["sha256"],
        reason="incident 42 review",
        at=clock.now(),
    )
    db_session.commit()

    clock.set(at + timedelta(days=30) - timedelta(seconds=1))
    assert (
        purge_face_captures(db_session=db_session, store=store, now=clock.now(), settings=settings)
        == 0
    )
    clock.set(at + timedelta(days=30, seconds=1))
    assert (
        purge_face_captures(db_session=db_session, store=store, now=clock.now(), settings=settings)
        == 1
    )
    db_session.commit()
    assert not store.exists(old["sha256"]) and db_session.get(Blob, old["sha256"]) is None
    assert store.exists(fresh["sha256"]) and db_session.get(Blob, fresh["sha256"]) is not None
    assert db_session.get(SensitiveBlob, old["sha256"]).purged_at == clock.now()
    assert db_session.scalar(select(func.count()).select_from(CaptureAudit)) == 1
    assert (
        db_session.scalar(select(func.count()).where(AccessLogEntry.blob_sha256 == old["sha256"]))
        == 1
    )
    with pytest.raises(NotFoundError, match="deleted on .* \\(retention\\)"):
        open_capture(
            db_session=db_session,
            user=admin,
            sha256=old["sha256"],
            reason="second look",
            at=clock.now(),
        )
    assert (
        purge_face_captures(db_session=db_session, store=store, now=clock.now(), settings=settings)
        == 0
    )
    clock.advance(days=10)
    assert (
        purge_face_captures(db_session=db_session, store=store, now=clock.now(), settings=settings)
        == 1
    )
