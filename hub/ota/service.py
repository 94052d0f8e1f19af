"""Bundles (upload, list) and rollouts (create, read). The state machine of a rollout is in
``hub.ota.rollouts``.

Bundle files are kept content-addressed in their own store (``settings.ota_dir``, a
``FileBlobStore`` apart from the media store, so no media endpoint can serve them): the sealed
manifest under its SHA-256 (the bundle id) and each file under its SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.areas.models import Area
from hub.clock import Clock
from hub.devices.models import Device, DeviceStatus
from hub.media.store import BlobStore
from hub.ota.errors import (
    BundleRejectedError,
    OtaInvalidError,
    OtaNotConfiguredError,
    OtaNotFoundError,
    OtaPermissionError,
)
from hub.ota.models import (
    Bundle,
    BundleFile,
    DeviceState,
    Rollout,
    RolloutDevice,
    RolloutState,
)
from hub.ota.reader import BundleContent, read_bundle
from hub.settings import Settings
from protocol import bundle
from protocol.bundle import BundleError

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "OTA is not configured: set GRIDLINK_OTA_OPS_KEY"
ACTIVE_ROLLOUT = (RolloutState.running.value, RolloutState.paused.value)
OPEN_ENTRY = (
    DeviceState.pending.value,
    DeviceState.queued.value,
    DeviceState.downloading.value,
    DeviceState.verified.value,
    DeviceState.updating.value,
)


def ops_public_key(settings: Settings) -> bytes:
    if not settings.ota_ops_key:
        raise OtaNotConfiguredError(NOT_CONFIGURED)
    return bytes.fromhex(settings.ota_ops_key)


# --- bundles --------------------------------------------------------------------------------


def _put(store: BlobStore, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    if not store.exists(sha):
        with store.open_partial(sha, len(data)) as handle:
            handle.write(data)
        store.commit(sha)
    return sha


def upload_bundle(
    *,
    db_session: Session,
    store: BlobStore,
    data: bytes,
    settings: Settings,
    clock: Clock,
    uploaded_by: str | None = None,
) -> tuple[Bundle, bool]:
    """Check and keep a bundle file; (bundle, created). The same bundle again is not an error
    (created False). BundleRejectedError with the BundleError reason as its code."""
    key = ops_public_key(settings)
    try:
        content: BundleContent = read_bundle(data, key)
    except BundleError as exc:
        raise BundleRejectedError(f"{exc.reason}: {exc}", code=exc.reason) from None
    existing = db_session.get(Bundle, content.id)
    if existing is not None:
        return existing, False
    for raw in (content.manifest_bytes, *content.files.values()):
        _put(store, raw)  # files first: a row never names bytes the store lacks
    m = content.manifest
    row = Bundle(
        id=content.id,
        name=m["name"],
        version=m["version"],
        kinds=list(m["kinds"]),
        hw=list(m["hw"]),
        min_hub=m["min_hub"],
        manifest=content.manifest_bytes,
        files=len(m["files"]),
        size=sum(f["size"] for f in m["files"]),
        uploaded_at=clock.now(),
        uploaded_by=uploaded_by,
    )
    try:
        with db_session.begin_nested():
            db_session.add(row)
            db_session.flush()
            for f in m["files"]:
                db_session.add(
                    BundleFile(bundle_id=row.id, path=f["path"], sha256=f["sha256"], size=f["size"])
                )
            db_session.flush()
    except IntegrityError:  # the same upload raced this one
        again = db_session.get(Bundle, content.id)
        if again is None:
            raise
        return again, False
    logger.info("bundle %s %s uploaded (%d files)", row.version, row.id[:12], row.files)
    return row, True


def list_bundles(*, db_session: Session) -> list[Bundle]:
    return list(db_session.scalars(select(Bundle).order_by(Bundle.uploaded_at.desc(), Bundle.id)))


def get_bundle(*, db_session: Session, bundle_id: str) -> Bundle:
    row = db_session.get(Bundle, bundle_id)
    if row is None:
        raise OtaNotFoundError(f"bundle {bundle_id} not found", code="bundle_not_found")
    return row


def bundle_files(*, db_session: Session, bundle_id: str) -> list[BundleFile]:
    return list(
        db_session.scalars(
            select(BundleFile).where(BundleFile.bundle_id == bundle_id).order_by(BundleFile.path)
        )
    )


# --- rollouts -------------------------------------------------------------------------------


def stage_sizes(n: int, stages: Sequence[int]) -> list[int]:
    """Devices in stage k (cumulative): the first ceil(n * stages[k] / 100), at least 1."""
    return [min(n, max(1, math.ceil(n * p / 100))) for p in stages]


def ordered(rollout_id: str, device_ids: Sequence[str]) -> list[str]:
    """The deterministic order of a rollout's devices: by sha256(rollout id + "/" + id)."""
    return sorted(
        device_ids, key=lambda d: hashlib.sha256(f"{rollout_id}/{d}".encode()).hexdigest()
    )


def check_stages(stages: Sequence[int]) -> None:
    if not stages or any(not 1 <= p <= 100 for p in stages):
        raise OtaInvalidError("stages must be percents in 1..100", code="bad_stages")
    if any(b <= a for a, b in zip(stages, stages[1:], strict=False)):
        raise OtaInvalidError("stages must be strictly ascending", code="bad_stages")
    if stages[-1] != 100:
        raise OtaInvalidError("the last stage must be 100", code="bad_stages")


def _busy_devices(db_session: Session, device_ids: set[str]) -> dict[str, str]:
    """Devices with an unfinished entry in an active rollout -> that rollout's id."""
    rows = db_session.execute(
        select(RolloutDevice.device_id, RolloutDevice.rollout_id)
        .join(Rollout, Rollout.id == RolloutDevice.rollout_id)
        .where(
            Rollout.state.in_(ACTIVE_ROLLOUT),
            RolloutDevice.state.in_(OPEN_ENTRY),
            RolloutDevice.device_id.in_(device_ids),
        )
    )
    return {d: r for d, r in rows}


def select_targets(
    *, db_session: Session, bundle_row: Bundle, target: dict[str, Any], scope: str | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    """(target device ids, excluded [{device_id, reason}]) for a selector. ``scope``: the
    area code a scoped admin is limited to; devices outside it (or in no grid) are not
    theirs to update: unknown when named, left out of ``all``, an area outside it refused."""
    query = select(Device).order_by(Device.id)
    if scope is not None:
        query = query.where(Device.grid_code.startswith(scope))
    explicit = "devices" in target
    if explicit:
        wanted = set(target["devices"])
        rows = list(db_session.scalars(query.where(Device.id.in_(wanted))))
        unknown = wanted - {d.id for d in rows}
        if unknown:
            raise OtaInvalidError(
                "unknown devices: " + ", ".join(sorted(unknown)[:10]), code="device_not_found"
            )
    elif "area" in target:
        code = target["area"]
        if db_session.get(Area, code) is None:
            raise OtaNotFoundError(f"area {code} not found", code="area_not_found")
        if scope is not None and not code.startswith(scope):
            raise OtaPermissionError(f"area {code} is outside your area {scope}")
        rows = list(db_session.scalars(query.where(Device.grid_code.startswith(code))))
    else:
        rows = list(db_session.scalars(query))
    chosen: list[str] = []
    excluded: list[dict[str, str]] = []
    for device in rows:
        reason = None
        if device.status != DeviceStatus.active.value:
            reason = "revoked"
        elif device.kind not in bundle_row.kinds:
            reason = f"kind {device.kind} is not in the bundle's kinds"
        if reason is not None:
            if explicit:
                excluded.append({"device_id": device.id, "reason": reason})
            continue
        hw = device.hardware
        if hw is not None and bundle.ANY_HW not in bundle_row.hw and hw not in bundle_row.hw:
            excluded.append(
                {"device_id": device.id, "reason": f"hardware {hw} is not in the bundle's hw"}
            )
            continue
        chosen.append(device.id)
    busy = _busy_devices(db_session, set(chosen))
    for device_id, rollout_id in sorted(busy.items()):
        chosen.remove(device_id)
        excluded.append({"device_id": device_id, "reason": f"in rollout {rollout_id}"})
    return chosen, excluded


def _next_id(db_session: Session) -> str:
    n = db_session.scalar(select(func.count()).select_from(Rollout)) or 0
    while db_session.get(Rollout, f"r-{n + 1}") is not None:
        n += 1
    return f"r-{n + 1}"


def create_rollout(
    *,
    db_session: Session,
    clock: Clock,
    bundle_id: str,
    target: dict[str, Any],
    stages: Sequence[int],
    auto_advance: bool,
    advance_success_percent: int,
    pause_failure_percent: int,
    pause_min_done: int,
    device_timeout_s: int,
    created_by: str | None = None,
    scope: str | None = None,
) -> Rollout:
    """A new running rollout with its devices placed in stages (nothing queued yet: the caller
    runs ``rollouts.start``). Flushes; the caller commits."""
    row = get_bundle(db_session=db_session, bundle_id=bundle_id)
    check_stages(stages)
    chosen, excluded = select_targets(
        db_session=db_session, bundle_row=row, target=target, scope=scope
    )
    if not chosen:
        detail = "; ".join(f"{e['device_id']}: {e['reason']}" for e in excluded[:5])
        raise OtaInvalidError(
            "the target holds no device this bundle can update"
            + (f" ({detail})" if detail else ""),
            code="empty_target",
        )
    now = clock.now()
    for _attempt in range(5):
        rollout_id = _next_id(db_session)
        rollout = Rollout(
            id=rollout_id,
            bundle_id=row.id,
            state=RolloutState.running.value,
            stage=0,
            stages=list(stages),
            auto_advance=auto_advance,
            advance_success_percent=advance_success_percent,
            pause_failure_percent=pause_failure_percent,
            pause_min_done=pause_min_done,
            device_timeout_s=device_timeout_s,
            target=target,
            excluded=excluded,
            created_at=now,
            created_by=created_by,
            updated_at=now,
        )
        sizes = stage_sizes(len(chosen), stages)
        try:
            with db_session.begin_nested():
                db_session.add(rollout)
                db_session.flush()
                for pos, device_id in enumerate(ordered(rollout_id, chosen)):
                    stage = next(k for k, size in enumerate(sizes) if pos < size)
                    db_session.add(
                        RolloutDevice(
                            rollout_id=rollout_id,
                            device_id=device_id,
                            position=pos,
                            stage=stage,
                            state=DeviceState.pending.value,
                            updated_at=now,
                        )
                    )
                db_session.flush()
        except IntegrityError:  # another writer took this id
            continue
        logger.info(
            "rollout %s of %s to %d device(s), stages %s",
            rollout_id,
            row.version,
            len(chosen),
            stages,
        )
        return rollout
    raise OtaInvalidError("could not allocate a rollout id", code="conflict")


def get_rollout(*, db_session: Session, rollout_id: str) -> Rollout:
    row = db_session.get(Rollout, rollout_id)
    if row is None:
        raise OtaNotFoundError(f"rollout {rollout_id} not found", code="rollout_not_found")
    return row


def _reaches_outside(scope: str) -> Any:
    """SQL: the rollout (``Rollout.id``) has a device outside area ``scope`` (or in no grid)."""
    return (
        select(RolloutDevice.device_id)
        .join(Device, Device.id == RolloutDevice.device_id)
        .where(
            RolloutDevice.rollout_id == Rollout.id,
            or_(Device.grid_code.is_(None), ~Device.grid_code.startswith(scope)),
        )
        .exists()
    )


def list_rollouts(
    *, db_session: Session, limit: int = 100, scope: str | None = None
) -> list[Rollout]:
    """The newest rollouts; with ``scope``, only those whose devices are all in that area."""
    query = select(Rollout).order_by(Rollout.created_at.desc(), Rollout.id).limit(limit)
    if scope is not None:
        query = query.where(~_reaches_outside(scope))
    return list(db_session.scalars(query))


def check_scope(*, db_session: Session, rollout: Rollout, scope: str | None) -> None:
    """Not found (as every other object outside a caller's area: its existence is not told)
    when ``scope`` is set and the rollout reaches a device outside it."""
    if scope is None:
        return
    outside = db_session.scalar(select(_reaches_outside(scope)).where(Rollout.id == rollout.id))
    if outside:
        raise OtaNotFoundError(f"rollout {rollout.id} not found", code="rollout_not_found")


def entries(*, db_session: Session, rollout_id: str) -> list[RolloutDevice]:
    return list(
        db_session.scalars(
            select(RolloutDevice)
            .where(RolloutDevice.rollout_id == rollout_id)
            .order_by(RolloutDevice.position)
        )
    )


def touch(rollout: Rollout, at: datetime) -> None:
    rollout.updated_at = at
