"""Tables of the access domain.

People, vehicles and schedules are kept per community (12-digit area code). Every change to
them appends a row to ``access_list_changes`` under a new community version
(``access_list_versions``), from which ``hub.access.lists`` builds snapshots and deltas.
Credentials live in their own table so that a card, QR token or PIN hash names one person of a
community at most. Timestamps of list entries are Unix seconds, as on the wire.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class PersonKind(StrEnum):
    resident = "resident"
    staff = "staff"
    visitor = "visitor"


class CredentialKind(StrEnum):
    card = "card"
    qr = "qr"
    pin = "pin"  # sha256 hex of "pin:<pin>"
    duress = "duress"  # a PIN that opens and raises a duress alarm


class EntryType(StrEnum):
    person = "person"
    vehicle = "vehicle"
    schedule = "schedule"


class AccessSchedule(Base):
    """A weekly time window (local time of the gates, days 1 = Monday)."""

    __tablename__ = "access_schedules"

    community: Mapped[str] = mapped_column(ForeignKey("areas.code"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    days: Mapped[list[int]] = mapped_column(JSON)
    from_hm: Mapped[str] = mapped_column(String(5))  # "06:00"
    to_hm: Mapped[str] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessPerson(Base):
    """A resident, staff member or visitor (a visitor pass) of one community.

    ``face_template`` is the template id a face terminal reported on enrolment, never a
    template; it is set only while a consent is in force and a card / QR / PIN exists.
    """

    __tablename__ = "access_people"
    __table_args__ = (
        ForeignKeyConstraint(
            ["community", "schedule_id"], ["access_schedules.community", "access_schedules.id"]
        ),
    )

    community: Mapped[str] = mapped_column(ForeignKey("areas.code"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    valid_from: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_to: Mapped[int | None] = mapped_column(BigInteger, default=None)
    doors: Mapped[list[str]] = mapped_column(JSON)
    schedule_id: Mapped[str | None] = mapped_column(String(64), default=None)
    black: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    face_template: Mapped[str | None] = mapped_column(String(64), default=None)
    issued_by: Mapped[str | None] = mapped_column(String(200), default=None)  # visitor passes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessCredential(Base):
    """A card number, QR token or PIN hash of a person: unique per community and kind."""

    __tablename__ = "access_credentials"
    __table_args__ = (
        ForeignKeyConstraint(
            ["community", "person_id"],
            ["access_people.community", "access_people.id"],
            ondelete="CASCADE",
        ),
        Index("ix_access_credentials_person", "community", "person_id"),
    )

    community: Mapped[str] = mapped_column(String(12), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64))


class AccessVehicle(Base):
    """A vehicle by plate (UTF-8, e.g. 浙A12345), optionally owned by a person."""

    __tablename__ = "access_vehicles"
    __table_args__ = (
        ForeignKeyConstraint(
            ["community", "person_id"], ["access_people.community", "access_people.id"]
        ),
    )

    community: Mapped[str] = mapped_column(ForeignKey("areas.code"), primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), primary_key=True)
    person_id: Mapped[str | None] = mapped_column(String(64), default=None)
    valid_from: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_to: Mapped[int | None] = mapped_column(BigInteger, default=None)
    doors: Mapped[list[str]] = mapped_column(JSON)
    black: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessListVersion(Base):
    """A community's current list version and the oldest base a delta can still start from
    (``log_floor``: the change log holds every change with a version above it)."""

    __tablename__ = "access_list_versions"

    community: Mapped[str] = mapped_column(ForeignKey("areas.code"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    log_floor: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessListChange(Base):
    """One change of a list entry: the entry (type + key) that became ``version``."""

    __tablename__ = "access_list_changes"

    community: Mapped[str] = mapped_column(String(12), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_type: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))  # person / schedule id, or plate
    op: Mapped[str] = mapped_column(String(8))  # put | del
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeviceListVersion(Base):
    """The list version a gate last reported (birth or heartbeat ``lists``)."""

    __tablename__ = "access_device_lists"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FaceConsent(Base):
    """A person's recorded consent to face recognition (PIPL): who, when, purpose, recorded by
    whom; ``withdrawn_at`` ends it (the template id is cleared at the same moment)."""

    __tablename__ = "access_face_consents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["community", "person_id"],
            ["access_people.community", "access_people.id"],
            ondelete="CASCADE",
        ),
        Index("ix_access_face_consents_person", "community", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    withdrawn_by: Mapped[str | None] = mapped_column(String(200), default=None)


ALARM_EVENTS = frozenset(
    {
        "door_forced",
        "door_held",
        "tailgating",
        "tamper",
        "duress",
        "stranger_repeated",
        "blacklist_hit",
        "help",
        "storage_low",
    }
)


class AccessLogEntry(Base):
    """One event of a verified ``access`` envelope, keyed (device, seq, index in the batch).

    ``is_alarm`` marks the alarm kinds (``ALARM_EVENTS``); alarms are rows of this table, not a
    table of their own. ``score`` is the face similarity or the plate confidence.
    """

    __tablename__ = "access_log"
    __table_args__ = (
        UniqueConstraint("device_id", "seq", "idx"),
        Index("ix_access_log_community_ts", "community", "ts"),
        Index("ix_access_log_community_plate_ts", "community", "plate", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    idx: Mapped[int] = mapped_column(Integer)
    community: Mapped[str] = mapped_column(String(12))
    grid_code: Mapped[str] = mapped_column(String(14))
    ev: Mapped[str] = mapped_column(String(24), index=True)
    is_alarm: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    ts: Mapped[int] = mapped_column(BigInteger)  # capture time, Unix seconds (signed)
    ms: Mapped[int] = mapped_column(Integer, default=0)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    historical: Mapped[bool] = mapped_column(Boolean, default=False)
    door: Mapped[str | None] = mapped_column(String(32), default=None)
    direction: Mapped[str | None] = mapped_column(String(8), default=None)
    by: Mapped[str | None] = mapped_column(String(16), default=None)
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    person_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    credential: Mapped[str | None] = mapped_column(String(128), default=None)
    plate: Mapped[str | None] = mapped_column(String(16), default=None)
    colour: Mapped[str | None] = mapped_column(String(16), default=None)
    score: Mapped[int | None] = mapped_column(Integer, default=None)
    template: Mapped[str | None] = mapped_column(String(64), default=None)
    blob_sha256: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # mode, cause, ...


class CaptureAudit(Base):
    """Who viewed or downloaded which face / plate capture, when, and the reason given."""

    __tablename__ = "access_capture_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    log_id: Mapped[int | None] = mapped_column(Integer, default=None)  # kept after a purge
    actor: Mapped[str] = mapped_column(String(200))
    token_id: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
