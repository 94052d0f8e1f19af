"""Versioned lists per community: the change log, snapshots, deltas and list_sync parts, and
the versions the gates report (docs/access.md section 2).

Every change to a person, vehicle or schedule takes the community's next version and appends
one ``AccessListChange``. A delta from ``base`` is the latest state of each entry changed after
``base`` (a ``put``) or a ``del`` for one that is gone; it exists while the log still holds
every change after ``base`` (``base >= log_floor``), else the caller sends a full snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.access import entries
from hub.access.entries import Entry
from hub.access.models import (
    AccessListChange,
    AccessListVersion,
    AccessPerson,
    AccessSchedule,
    AccessVehicle,
    DeviceListVersion,
    EntryType,
)
from hub.devices.models import Device
from hub.errors import InvalidInputError, NotFoundError
from protocol import canonical
from protocol.limits import MAX_COMMAND_BYTES

# The args of one list_sync part, as canonical JSON, leave this much of a command for the rest
# of the sealed command (op, device, cseq, expiry, signature).
MAX_PART_BYTES = MAX_COMMAND_BYTES - 512
# Changes kept in the log per community: older ones are pruned (a device that far behind gets
# a full snapshot). Pruning runs when a version is a multiple of PRUNE_EVERY.
LOG_KEEP = 50_000
PRUNE_EVERY = 1_000
# Entry types in the order a snapshot lists them (schedules before the people citing them).
_TYPE_ORDER = (EntryType.schedule, EntryType.person, EntryType.vehicle)


def _insert_for(db_session: Session) -> Any:
    return pg_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert


def current_version(*, db_session: Session, community: str) -> int:
    """The community's list version (0: no list yet)."""
    row = db_session.get(AccessListVersion, community)
    return row.version if row is not None else 0


def record_change(
    *, db_session: Session, community: str, entry_type: EntryType, key: str, op: str, at: datetime
) -> int:
    """Give the community its next version for one changed entry; returns that version.

    The version row is locked (``FOR UPDATE``) so concurrent writers take turns. Caller commits.
    """
    insert = _insert_for(db_session)
    db_session.execute(
        insert(AccessListVersion)
        .values(community=community, version=0, log_floor=0, changed_at=at)
        .on_conflict_do_nothing()
    )
    row = db_session.scalars(
        select(AccessListVersion)
        .where(AccessListVersion.community == community)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    row.version += 1
    row.changed_at = at
    db_session.add(
        AccessListChange(
            community=community,
            version=row.version,
            entry_type=entry_type.value,
            key=key,
            op=op,
            at=at,
        )
    )
    if row.version % PRUNE_EVERY == 0 and row.version > LOG_KEEP:
        prune_changes(db_session=db_session, community=community, floor=row.version - LOG_KEEP)
    return row.version


def prune_changes(*, db_session: Session, community: str, floor: int) -> None:
    """Forget the changes at or below ``floor``: deltas then start from ``floor`` or later."""
    row = db_session.get(AccessListVersion, community)
    if row is None or floor <= row.log_floor:
        return
    floor = min(floor, row.version)
    for change in db_session.scalars(
        select(AccessListChange).where(
            AccessListChange.community == community, AccessListChange.version <= floor
        )
    ):
        db_session.delete(change)
    row.log_floor = floor


def snapshot(*, db_session: Session, community: str) -> tuple[int, list[Entry]]:
    """The whole list at the current version: every entry as a ``put``."""
    version = current_version(db_session=db_session, community=community)
    out: list[Entry] = []
    for schedule in db_session.scalars(
        select(AccessSchedule)
        .where(AccessSchedule.community == community)
        .order_by(AccessSchedule.id)
    ):
        out.append(entries.put(entries.schedule_entry(schedule)))
    creds = entries.credentials_of(db_session=db_session, community=community)
    for person in db_session.scalars(
        select(AccessPerson).where(AccessPerson.community == community).order_by(AccessPerson.id)
    ):
        out.append(entries.put(entries.person_entry(person, creds.get(person.id, {}))))
    for vehicle in db_session.scalars(
        select(AccessVehicle)
        .where(AccessVehicle.community == community)
        .order_by(AccessVehicle.plate)
    ):
        out.append(entries.put(entries.vehicle_entry(vehicle)))
    return version, out


def delta(*, db_session: Session, community: str, base: int) -> tuple[int, list[Entry]] | None:
    """``(version, entries)`` taking a device from ``base`` to the current version, or None
    when the log from ``base`` is not kept (or ``base`` is 0 or ahead of the hub)."""
    row = db_session.get(AccessListVersion, community)
    version = row.version if row is not None else 0
    if row is None or base <= 0 or base < row.log_floor or base > version:
        return None
    changed = db_session.execute(
        select(AccessListChange.entry_type, AccessListChange.key)
        .where(AccessListChange.community == community, AccessListChange.version > base)
        .group_by(AccessListChange.entry_type, AccessListChange.key)
    ).all()
    keys: dict[str, list[str]] = {t.value: [] for t in EntryType}
    for entry_type, key in changed:
        keys[entry_type].append(key)
    out: list[Entry] = []
    for entry_type in _TYPE_ORDER:
        wanted = sorted(keys[entry_type.value])
        if wanted:
            out.extend(_current(db_session, community, entry_type, wanted))
    return version, out


def _current(
    db_session: Session, community: str, entry_type: EntryType, keys: Sequence[str]
) -> list[Entry]:
    """The current entry of each key as a put, or a del for the keys that are gone."""
    found: dict[str, Entry] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        chunk = list(keys[start : start + 500])
        if entry_type == EntryType.person:
            creds = entries.credentials_of(
                db_session=db_session, community=community, person_ids=chunk
            )
            for person in db_session.scalars(
                select(AccessPerson).where(
                    AccessPerson.community == community, AccessPerson.id.in_(chunk)
                )
            ):
                found[person.id] = entries.person_entry(person, creds.get(person.id, {}))
        elif entry_type == EntryType.vehicle:
            for vehicle in db_session.scalars(
                select(AccessVehicle).where(
                    AccessVehicle.community == community, AccessVehicle.plate.in_(chunk)
                )
            ):
                found[vehicle.plate] = entries.vehicle_entry(vehicle)
        else:
            for schedule in db_session.scalars(
                select(AccessSchedule).where(
                    AccessSchedule.community == community, AccessSchedule.id.in_(chunk)
                )
            ):
                found[schedule.id] = entries.schedule_entry(schedule)
    return [
        entries.put(found[key]) if key in found else entries.delete(entry_type.value, key)
        for key in keys
    ]


def entry_bytes(entry: Entry) -> int:
    return len(canonical.dumps(entry))


def max_entry_bytes() -> int:
    """The largest entry one part can carry (what a header of the largest numbers leaves)."""
    big = 2**53 - 1
    header = {"mode": "delta", "base": big, "version": big, "part": big, "parts": big}
    return MAX_PART_BYTES - len(canonical.dumps({**header, "entries": []}))


def split_parts(
    *, mode: str, base: int, version: int, items: Sequence[Entry]
) -> list[dict[str, Any]]:
    """The args of each list_sync part: ``items`` in order, as many per part as fit in
    ``MAX_PART_BYTES`` of canonical JSON. At least one part (an empty full snapshot clears)."""
    limit = max_entry_bytes()
    groups: list[list[Entry]] = [[]]
    used = 0
    for item in items:
        size = entry_bytes(item)
        if size > limit:
            key = item.get("id", item.get("plate"))
            raise InvalidInputError(f"list entry {item['t']} {key} is {size} bytes, over {limit}")
        step = size + (1 if groups[-1] else 0)  # the comma between entries
        if groups[-1] and used + step > limit:
            groups.append([])
            used, step = 0, size
        groups[-1].append(item)
        used += step
    parts = len(groups)
    return [
        {
            "mode": mode,
            "base": base,
            "version": version,
            "part": i + 1,
            "parts": parts,
            "entries": group,
        }
        for i, group in enumerate(groups)
    ]


def sync_parts(*, db_session: Session, community: str, base: int) -> list[dict[str, Any]]:
    """What a gate at list version ``base`` needs: the args of each list_sync part, in order.

    A delta when the log from ``base`` is kept, else a full snapshot (base 0); ``[]`` when the
    gate is already at the current version.
    """
    version = current_version(db_session=db_session, community=community)
    if base == version:
        return []
    found = delta(db_session=db_session, community=community, base=base)
    if found is not None:
        return split_parts(mode="delta", base=base, version=found[0], items=found[1])
    version, items = snapshot(db_session=db_session, community=community)
    return split_parts(mode="full", base=0, version=version, items=items)


def note_list_version(
    *, db_session: Session, device_id: str, version: int, at: datetime
) -> DeviceListVersion:
    """Record the list version a gate reported (birth or heartbeat). Caller commits."""
    if not 0 <= version < 2**53:
        raise InvalidInputError(f"list version {version} is out of range")
    if db_session.get(Device, device_id) is None:
        raise NotFoundError(f"device {device_id} not found", code="device_not_found")
    row = db_session.get(DeviceListVersion, device_id)
    if row is None:
        row = DeviceListVersion(device_id=device_id, version=version, reported_at=at)
        db_session.add(row)
    elif at >= row.reported_at:  # a late, older report never overwrites a newer one
        row.version, row.reported_at = version, at
    return row


def device_versions(*, db_session: Session, community: str) -> list[tuple[Device, int | None]]:
    """The gates of a community (devices bound to its grids) and the version each reported."""
    rows = db_session.execute(
        select(Device, DeviceListVersion.version)
        .outerjoin(DeviceListVersion, DeviceListVersion.device_id == Device.id)
        .where(
            Device.grid_code.startswith(community, autoescape=True),
            Device.kind.in_(("access", "face", "barrier")),
        )
        .order_by(Device.id)
    ).all()
    return [(device, version) for device, version in rows]


def change_count(*, db_session: Session, community: str) -> int:
    return int(
        db_session.scalar(
            select(func.count())
            .select_from(AccessListChange)
            .where(AccessListChange.community == community)
        )
        or 0
    )
