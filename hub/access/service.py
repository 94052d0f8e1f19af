"""What ingest calls for the gates: store a verified ``access`` batch in the access log (one
row per event, keyed device + seq + index) and record a face terminal's enrolment.

The envelope itself is already stored verbatim in ``events`` by ingest, so a batch refused
here (``InvalidInputError`` naming the event and field) loses nothing: it stays re-readable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.access import faces
from hub.access.models import ALARM_EVENTS, AccessLogEntry, AccessPerson
from hub.clock import from_unix
from hub.devices.models import Device, DeviceKind
from hub.errors import InvalidInputError
from hub.media.models import SensitiveKind
from hub.media.service import mark_sensitive
from protocol.limits import MAX_TS

_EV = re.compile(r"^[a-z_]{1,24}$")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Optional string fields of an event: wire name -> (column, longest value).
_STRINGS = {
    "door": ("door", 32),
    "dir": ("direction", 8),
    "by": ("by", 16),
    "reason": ("reason", 32),
    "person": ("person_id", 64),
    "cred": ("credential", 128),
    "plate": ("plate", 16),
    "color": ("colour", 16),
    "template": ("template", 64),
}
_INTS = {"lat_ms": ("latency_ms", 2**31 - 1), "score": ("score", 100), "conf": ("score", 100)}
_MAPPED = {"ev", "ts", "ms", "blob", *_STRINGS, *_INTS}


def community_of(device: Device) -> str:
    """A gate's community: the first 12 digits of its 14-digit grid code."""
    if device.grid_code is None or len(device.grid_code) != 14:
        raise InvalidInputError(
            f"device {device.id} is bound to no grid, so to no community", code="no_community"
        )
    return device.grid_code[:12]


def _int(where: str, value: Any, high: int, low: int = 0) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidInputError(f"{where}: want an integer {low}..{high}, got {value!r}")
    return value


def _event_row(
    index: int, event: Any, blobs: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], str | None]:
    """The columns of one event and the SHA-256 of its capture (or None)."""
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise InvalidInputError(f"{where}: want an object")
    ev = event.get("ev")
    if not isinstance(ev, str) or not _EV.match(ev):
        raise InvalidInputError(f"{where}.ev: want a lower-case event name, got {ev!r}")
    row: dict[str, Any] = {
        "ev": ev,
        "ts": _int(f"{where}.ts", event.get("ts"), MAX_TS),
        "ms": _int(f"{where}.ms", event.get("ms", 0), 999),
    }
    for name, (column, longest) in _STRINGS.items():
        value = event.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not 0 < len(value) <= longest:
            raise InvalidInputError(f"{where}.{name}: want a string of 1..{longest} characters")
        row[column] = value
    if row.get("direction") not in (None, "in", "out"):
        raise InvalidInputError(f"{where}.dir: want 'in' or 'out', got {row['direction']!r}")
    for name, (column, high) in _INTS.items():
        if event.get(name) is not None:
            row[column] = _int(f"{where}.{name}", event[name], high)
    sha = None
    blob = event.get("blob")
    if blob is not None:
        index_ = _int(f"{where}.blob", blob, len(blobs) - 1) if blobs else None
        if index_ is None:
            raise InvalidInputError(f"{where}.blob: the envelope lists no blobs")
        sha = str(blobs[index_]["sha256"])
        row["blob_sha256"] = sha
    row["detail"] = {k: v for k, v in event.items() if k not in _MAPPED}
    return row, sha


def _capture_kind(device: Device, row: Mapping[str, Any]) -> SensitiveKind:
    if row.get("plate") is not None or device.kind == DeviceKind.barrier:
        return SensitiveKind.plate
    return SensitiveKind.face  # a face terminal's capture, or any other gate photo


def record_batch(
    *,
    db_session: Session,
    device: Device,
    seq: int,
    body: Mapping[str, Any],
    blobs: Sequence[Mapping[str, Any]],
    historical: bool,
    at: datetime,
) -> list[AccessLogEntry]:
    """Store each event of a verified ``access`` envelope as its own access-log row and mark
    its captures sensitive. Returns the alarm rows stored now (none for a redelivery); for a
    ``historical`` batch they carry ``historical=True``: file them, take no live action.
    Caller commits."""
    community = community_of(device)
    if body.get("community", community) != community:
        raise InvalidInputError(
            f"batch names community {body.get('community')!r}, the device's is {community}",
            code="wrong_community",
        )
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidInputError("an access batch needs a non-empty 'events' list")
    parsed = [_event_row(i, event, blobs) for i, event in enumerate(events)]
    stored = set(
        db_session.scalars(
            select(AccessLogEntry.idx).where(
                AccessLogEntry.device_id == device.id, AccessLogEntry.seq == seq
            )
        )
    )
    alarms: list[AccessLogEntry] = []
    marks: list[tuple[str, SensitiveKind, datetime]] = []
    for index, (row, sha) in enumerate(parsed):
        captured_at = from_unix(row["ts"])
        if sha is not None:
            marks.append((sha, _capture_kind(device, row), captured_at))
        if index in stored:
            continue  # a redelivered envelope stores nothing twice
        entry = AccessLogEntry(
            device_id=device.id,
            seq=seq,
            idx=index,
            community=community,
            grid_code=device.grid_code,
            is_alarm=row["ev"] in ALARM_EVENTS,
            captured_at=captured_at,
            received_at=at,
            historical=historical,
            **row,
        )
        db_session.add(entry)
        if entry.is_alarm:
            alarms.append(entry)
    mark_sensitive(db_session=db_session, marks=marks, at=at)
    db_session.flush()
    return alarms


def record_enrolment(
    *, db_session: Session, device: Device, body: Mapping[str, Any], at: datetime
) -> AccessPerson:
    """A face terminal's ``enrolled`` event ``{person, template}``: store the template id
    (refused without consent or without a card / QR / PIN). Caller commits."""
    if device.kind != DeviceKind.face:
        raise InvalidInputError(
            f"device {device.id} is a {device.kind}, only face terminals enrol",
            code="not_a_face_terminal",
        )
    person, template = body.get("person"), body.get("template")
    for name, value in (("person", person), ("template", template)):
        if not isinstance(value, str) or not _ID.match(value):
            raise InvalidInputError(f"enrolled.{name}: want an id of 1..64 [A-Za-z0-9._-]")
    assert isinstance(person, str) and isinstance(template, str)
    return faces.set_template(
        db_session=db_session,
        community=community_of(device),
        person_id=person,
        template=template,
        at=at,
    )
