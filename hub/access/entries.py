"""List entries exactly as gates receive them (docs/access.md section 2), built from rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.access.models import (
    AccessCredential,
    AccessPerson,
    AccessSchedule,
    AccessVehicle,
    CredentialKind,
    EntryType,
)

Entry = dict[str, Any]
Credentials = dict[str, list[str]]  # credential kind -> values, sorted

# The wire field of each credential kind in a person entry.
CREDENTIAL_FIELDS = {
    CredentialKind.card: "cards",
    CredentialKind.qr: "qr",
    CredentialKind.pin: "pins",
    CredentialKind.duress: "duress",
}


def person_entry(person: AccessPerson, credentials: Credentials) -> Entry:
    entry: Entry = {
        "t": EntryType.person.value,
        "id": person.id,
        "kind": person.kind,
        "from": person.valid_from,
        "to": person.valid_to,
        "doors": list(person.doors),
        "sched": person.schedule_id,
        "black": person.black,
        "face": person.face_template,
    }
    for kind, name in CREDENTIAL_FIELDS.items():
        entry[name] = list(credentials.get(kind.value, []))
    return entry


def vehicle_entry(vehicle: AccessVehicle) -> Entry:
    return {
        "t": EntryType.vehicle.value,
        "plate": vehicle.plate,
        "person": vehicle.person_id,
        "from": vehicle.valid_from,
        "to": vehicle.valid_to,
        "doors": list(vehicle.doors),
        "black": vehicle.black,
    }


def schedule_entry(schedule: AccessSchedule) -> Entry:
    return {
        "t": EntryType.schedule.value,
        "id": schedule.id,
        "days": list(schedule.days),
        "from": schedule.from_hm,
        "to": schedule.to_hm,
    }


def put(entry: Entry) -> Entry:
    return {"op": "put", **entry}


def delete(entry_type: str, key: str) -> Entry:
    field = "plate" if entry_type == EntryType.vehicle else "id"
    return {"op": "del", "t": entry_type, field: key}


def credentials_of(
    *, db_session: Session, community: str, person_ids: Iterable[str] | None = None
) -> dict[str, Credentials]:
    """person id -> kind -> sorted values, for the given people (None: the whole community)."""
    query = select(AccessCredential).where(AccessCredential.community == community)
    if person_ids is not None:
        wanted = sorted(set(person_ids))
        if not wanted:
            return {}
        query = query.where(AccessCredential.person_id.in_(wanted))
    out: dict[str, Credentials] = defaultdict(dict)
    for row in db_session.scalars(query.order_by(AccessCredential.value)):
        out[row.person_id].setdefault(row.kind, []).append(row.value)
    return out
