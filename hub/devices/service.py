"""Device identities: register, look up, bind to a grid, revoke (the watermark), rotate keys."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from hub.areas.models import Grid
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.clock import Clock
from hub.devices.models import Device, DeviceKind, DevicePresence, DeviceStatus
from hub.devices.schemas import DeviceCreate
from hub.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from protocol import topics
from protocol.errors import ProtocolError

logger = logging.getLogger(__name__)


def check_public_key(public_key: str) -> str:
    """The key in canonical form (64 lower-case hex) or InvalidInputError."""
    key = public_key.strip().lower()
    if len(key) != 64 or any(ch not in "0123456789abcdef" for ch in key):
        raise InvalidInputError("public_key must be 32 bytes as 64 hex characters")
    return key


def _check_handheld_slot(db_session: Session, grid_code: str, device_id: str) -> None:
    other = db_session.scalar(
        select(Device.id).where(
            Device.grid_code == grid_code,
            Device.kind == DeviceKind.handheld,
            Device.status == DeviceStatus.active,
            Device.id != device_id,
        )
    )
    if other is not None:
        raise ConflictError(
            f"grid {grid_code} already has the active handheld {other}: revoke {other} first "
            f"(gridlink provision revoke {other})",
            code="grid_has_handheld",
            device_id=other,
        )


def check_registration(*, db_session: Session, data: DeviceCreate) -> str:
    """Every check of a registration, without writing: the public key in canonical form, or
    the hub error naming what is wrong."""
    try:
        topics.validate_device_id(data.id)
    except ProtocolError as exc:
        raise InvalidInputError(f"bad device id: {exc.message}", code="bad_device_id") from exc
    key = check_public_key(data.public_key)
    if db_session.get(Device, data.id) is not None:
        raise ConflictError(f"device {data.id} is already registered", code="device_exists")
    if data.grid_code is not None:
        if db_session.get(Grid, data.grid_code) is None:
            raise NotFoundError(f"grid {data.grid_code} does not exist", code="grid_not_found")
        if data.kind == DeviceKind.handheld:
            _check_handheld_slot(db_session, data.grid_code, data.id)
    return key


def register_device(*, db_session: Session, data: DeviceCreate, clock: Clock) -> Device:
    """Register a device's public key (and bind it to its grid). Caller commits."""
    key = check_registration(db_session=db_session, data=data)
    device = Device(
        id=data.id,
        kind=data.kind.value,
        public_key=key,
        status=DeviceStatus.active.value,
        grid_code=data.grid_code,
        name=data.name,
        firmware=data.firmware,
        registered_at=clock.now(),
        online=False,
        session=0,
        last_seq=0,
        max_seq=0,
        chain_head="0" * 64,
    )
    try:
        with db_session.begin_nested():  # a savepoint: the caller's transaction survives
            db_session.add(device)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise ConflictError(f"device {data.id} conflicts: {exc.orig}", code="conflict") from exc
    return device


def get_device(*, db_session: Session, device_id: str) -> Device:
    device = db_session.get(Device, device_id)
    if device is None:
        raise NotFoundError(f"device {device_id} is not registered", code="device_not_found")
    return device


def visible_device(*, db_session: Session, user: Principal, device_id: str) -> Device:
    """The device if the caller may see it (unscoped callers see all; others their area)."""
    require_roles(user, Role.admin, Role.operator)
    device = get_device(db_session=db_session, device_id=device_id)
    if user.scope_code is not None and not user.covers(device.grid_code):
        raise NotFoundError(f"device {device_id} is not registered", code="device_not_found")
    return device


def require_covers(user: Principal, grid_code: str | None) -> None:
    """A scoped admin may only register, move or revoke devices of grids inside its area
    (an unscoped admin may also leave a device unbound)."""
    if user.scope_code is not None and not user.covers(grid_code):
        raise PermissionDeniedError(f"grid {grid_code} is outside your area {user.scope_code}")


def list_devices(
    *,
    db_session: Session,
    scope_code: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    grid_code: str | None = None,
    online: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Device]:
    """Devices, optionally inside an area (grid-code prefix); unbound devices need no scope."""
    query = select(Device).order_by(Device.id)
    if scope_code is not None:
        query = query.where(Device.grid_code.startswith(scope_code))
    if kind is not None:
        query = query.where(Device.kind == kind)
    if status is not None:
        query = query.where(Device.status == status)
    if grid_code is not None:
        query = query.where(Device.grid_code == grid_code)
    if online is not None:
        query = query.where(Device.online == online)
    return list(db_session.scalars(query.limit(limit).offset(offset)))


def bind_grid(*, db_session: Session, device_id: str, grid_code: str | None) -> Device:
    """Move a device to another grid (or unbind it). Caller commits."""
    device = get_device(db_session=db_session, device_id=device_id)
    if grid_code is not None:
        if db_session.get(Grid, grid_code) is None:
            raise NotFoundError(f"grid {grid_code} does not exist", code="grid_not_found")
        if device.kind == DeviceKind.handheld and device.status == DeviceStatus.active:
            _check_handheld_slot(db_session, grid_code, device.id)
    device.grid_code = grid_code
    db_session.flush()
    return device


def revoke_device(
    *,
    db_session: Session,
    device_id: str,
    reason: str | None = None,
    clock: Clock,
    stored_seq: int = 0,
) -> Device:
    """Revoke a device key and fix its watermark (idempotent: a second call changes nothing).

    ``revoked_seq`` is the highest seq the hub holds or was told of: ``stored_seq`` (the
    caller's count of stored events), ``max_seq`` and ``announced_seq`` (births, heartbeats);
    ``revoked_head`` the contiguous chain head. What the device signs afterwards lies above
    it, whatever ``ts`` it claims. Caller commits."""
    device = get_device(db_session=db_session, device_id=device_id)
    if device.status == DeviceStatus.revoked:
        return device
    device.status = DeviceStatus.revoked.value
    device.revoked_at = clock.now()
    device.revoked_reason = reason
    device.revoked_seq = max(device.max_seq, device.announced_seq, stored_seq)
    device.revoked_head = device.chain_head
    set_online(db_session=db_session, device=device, online=False, at=device.revoked_at)
    db_session.flush()
    logger.info(
        "%s revoked: watermark seq %d, head %s", device_id, device.revoked_seq, device.chain_head
    )
    return device


class KeyView(Protocol):
    """What the signature and revocation checks read of a device: a ``Device`` or a row of
    those columns (the ingest reads them without loading ORM objects)."""

    @property
    def public_key(self) -> str: ...
    @property
    def previous_public_key(self) -> str | None: ...
    @property
    def previous_key_until(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...
    @property
    def revoked_seq(self) -> int | None: ...
    @property
    def max_seq(self) -> int: ...


KEY_COLUMNS = (
    Device.public_key,
    Device.previous_public_key,
    Device.previous_key_until,
    Device.status,
    Device.revoked_seq,
    Device.max_seq,
)


def watermark(device: KeyView) -> int | None:
    """The highest seq still accepted from ``device``; None while it is not revoked."""
    if device.status != DeviceStatus.revoked:
        return None
    return device.revoked_seq if device.revoked_seq is not None else device.max_seq


def note_announced(device: Device, seq: int) -> None:
    """Remember a seq the device showed (a birth's ``seq``, a verified envelope's own)."""
    if device.status != DeviceStatus.revoked and seq > device.announced_seq:
        device.announced_seq = seq


def verifying_keys(device: KeyView, now: datetime) -> list[bytes]:
    """The keys that verify what ``device`` signs at ``now``: the current one and, within the
    overlap after a rotation, the previous one."""
    keys = [bytes.fromhex(device.public_key)]
    until = device.previous_key_until
    if device.previous_public_key is not None and until is not None and now < until:
        keys.append(bytes.fromhex(device.previous_public_key))
    return keys


def rotate_key(
    *, db_session: Session, device_id: str, public_key: str, at: datetime, overlap_s: int
) -> bool:
    """Apply a verified ``key`` event: ``public_key`` becomes the device's key, the old one
    verifies until ``at + overlap_s``. Naming the current key is a no-op (a re-emitted event);
    a revoked device keeps its key. Returns whether the key changed. Caller commits."""
    key = check_public_key(public_key)
    device = get_device(db_session=db_session, device_id=device_id)
    if device.status == DeviceStatus.revoked:
        logger.warning("%s: key event of a revoked device ignored", device_id)
        return False
    if key == device.public_key:
        logger.info("%s: key event names the current key (no-op)", device_id)
        return False
    device.previous_public_key = device.public_key
    device.previous_key_until = at + timedelta(seconds=overlap_s)
    device.public_key = key
    db_session.flush()
    logger.info(
        "%s: key rotated to %s..., the old key verifies until %s",
        device_id,
        key[:16],
        device.previous_key_until.isoformat(),
    )
    return True


def set_online(*, db_session: Session, device: Device, online: bool, at: datetime) -> None:
    """The one way a device's online state changes: a change (not a repeat) is logged in
    ``device_presence`` in the caller's transaction, which the live feed reads. Flushes."""
    if bool(device.online) == online:
        return
    device.online = online
    db_session.add(
        DevicePresence(
            device_id=device.id, kind=device.kind, grid_code=device.grid_code, online=online, at=at
        )
    )
    db_session.flush()


# What a heartbeat may report, and the bounds a stored figure must lie in.
_HEARTBEAT_FIGURES = {"battery": 100, "outbox": 2**31 - 1, "storage_free": 2**62}
_devices = cast(Table, Device.__table__)
_HEARTBEAT = (  # Core, built once: the ORM's UPDATE took ~4x the work of the event's own row
    update(_devices)
    .where(
        _devices.c.id == bindparam("dev"),
        or_(_devices.c.heartbeat_at.is_(None), _devices.c.heartbeat_at < bindparam("taken_at")),
    )
    .values(
        heartbeat_at=bindparam("taken_at"),
        **{name: bindparam(name) for name in _HEARTBEAT_FIGURES},
    )
)


def record_heartbeat(
    *, db_session: Session, device_id: str, body: dict[str, object], taken_at: datetime
) -> bool:
    """Keep a heartbeat's battery, outbox backlog and free flash on the device, unless a newer
    heartbeat was kept already (an older one replayed from the outbox changes nothing). A
    figure that is missing, not an integer or out of its bounds is stored as unknown (None).
    Returns whether the device changed (False for an unknown device too); the caller commits.

    One conditional UPDATE (no load of the device: a heartbeat is in every fifty events of a
    busy hub's ingest), the "newer than the kept one" test in its WHERE."""
    figures: dict[str, int | None] = {}
    for name, top in _HEARTBEAT_FIGURES.items():
        value = body.get(name)
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top
        figures[name] = value if ok else None  # type: ignore[assignment]
    result = db_session.connection().execute(
        _HEARTBEAT, {"dev": device_id, "taken_at": taken_at, **figures}
    )
    if result.rowcount:
        device = db_session.identity_map.get(identity_key(Device, device_id))
        if device is not None:  # loaded in this session: it shows what the row holds now
            db_session.expire(device, ["heartbeat_at", *figures])
    return bool(result.rowcount)
