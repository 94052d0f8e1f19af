"""People, vehicles, schedules and visitor passes of a community. Every change records a list
change (``hub.access.lists.record_change``) so the gates receive it at the next sync.

Services check what the database cannot say precisely: the community exists, a schedule or
owner cited exists, a credential is not another person's, face access keeps an alternative.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.access import entries, lists
from hub.access.models import (
    AccessCredential,
    AccessPerson,
    AccessSchedule,
    AccessVehicle,
    CredentialKind,
    EntryType,
    PersonKind,
)
from hub.access.schemas import Credentials, PersonPut, SchedulePut, VehiclePut, VisitorPassCreate
from hub.areas.models import Area, Level
from hub.errors import ConflictError, InvalidInputError, NotFoundError

MAX_VISITOR_PASS_S = 30 * 24 * 3600  # a visitor pass lasts at most 30 days


def require_community(db_session: Session, community: str) -> Area:
    area = db_session.get(Area, community)
    if area is None or area.level != Level.community:
        raise NotFoundError(f"community {community} not found", code="community_not_found")
    return area


def get_person(*, db_session: Session, community: str, person_id: str) -> AccessPerson:
    person = db_session.get(AccessPerson, (community, person_id))
    if person is None:
        raise NotFoundError(
            f"person {person_id} not found in community {community}", code="person_not_found"
        )
    return person


def has_alternative(credentials: entries.Credentials) -> bool:
    """Face is never the only way in: a card, a QR token or a PIN."""
    return any(credentials.get(k.value) for k in (CredentialKind.card, CredentialKind.qr)) or bool(
        credentials.get(CredentialKind.pin.value)
    )


def _check_schedule(db_session: Session, community: str, schedule_id: str | None) -> None:
    if schedule_id is not None and db_session.get(AccessSchedule, (community, schedule_id)) is None:
        raise InvalidInputError(
            f"schedule {schedule_id} does not exist in community {community}",
            code="schedule_not_found",
        )


def _set_credentials(
    db_session: Session, community: str, person_id: str, data: Credentials
) -> entries.Credentials:
    """Replace a person's credentials; refuse one that belongs to another person."""
    wanted: dict[str, list[str]] = {}
    for kind, name in entries.CREDENTIAL_FIELDS.items():
        values = sorted(set(getattr(data, name)))
        if values:
            wanted[kind.value] = values
    pins, duress = set(wanted.get("pin", [])), set(wanted.get("duress", []))
    if pins & duress:
        raise InvalidInputError("a PIN cannot be both a normal and a duress PIN")
    for kind_name, values in wanted.items():
        taken = db_session.scalars(
            select(AccessCredential).where(
                AccessCredential.community == community,
                AccessCredential.kind == kind_name,
                AccessCredential.value.in_(values),
                AccessCredential.person_id != person_id,
            )
        ).first()
        if taken is not None:
            shown = taken.value if kind_name in ("card", "qr") else taken.value[:8] + "..."
            raise ConflictError(
                f"{kind_name} {shown} already belongs to person {taken.person_id}",
                code="credential_taken",
            )
    for row in db_session.scalars(
        select(AccessCredential).where(
            AccessCredential.community == community, AccessCredential.person_id == person_id
        )
    ):
        db_session.delete(row)
    db_session.flush()
    for kind_name, values in wanted.items():
        for value in values:
            db_session.add(
                AccessCredential(
                    community=community, kind=kind_name, value=value, person_id=person_id
                )
            )
    return wanted


def _check_size(entry: entries.Entry) -> None:
    size, limit = lists.entry_bytes(entries.put(entry)), lists.max_entry_bytes()
    if size > limit:
        raise InvalidInputError(f"the list entry would be {size} bytes, over {limit}")


def put_person(
    *,
    db_session: Session,
    community: str,
    person_id: str,
    data: PersonPut,
    at: datetime,
    issued_by: str | None = None,
) -> AccessPerson:
    """Create or replace a person (keeping the face template id while it keeps an alternative
    credential). Caller commits."""
    require_community(db_session, community)
    _check_schedule(db_session, community, data.schedule)
    person = db_session.get(AccessPerson, (community, person_id))
    if person is not None and person.face_template is not None:
        if not (data.cards or data.qr or data.pins):  # checked before anything changes
            raise InvalidInputError(
                f"person {person_id} has face access: keep a card, QR or PIN (face is never "
                "the only way in), or withdraw the face consent first",
                code="face_needs_alternative",
            )
    if person is None:
        person = AccessPerson(community=community, id=person_id, created_at=at)
        db_session.add(person)
    person.kind = data.kind.value
    person.name = data.name
    person.valid_from, person.valid_to = data.valid_from, data.valid_to
    person.doors = sorted(set(data.doors))
    person.schedule_id = data.schedule
    person.black = data.black
    person.issued_by = issued_by
    person.updated_at = at
    db_session.flush()
    creds = _set_credentials(db_session, community, person_id, data)
    _check_size(entries.person_entry(person, creds))
    lists.record_change(
        db_session=db_session,
        community=community,
        entry_type=EntryType.person,
        key=person_id,
        op="put",
        at=at,
    )
    return person


def issue_visitor_pass(
    *, db_session: Session, community: str, data: VisitorPassCreate, issued_by: str, at: datetime
) -> AccessPerson:
    """An operator's visitor pass: a person of kind visitor with an expiry. Caller commits."""
    now = int(at.timestamp())
    valid_from = data.valid_from if data.valid_from is not None else now
    if data.valid_to <= max(valid_from, now):
        raise InvalidInputError("a visitor pass must expire in the future, after valid_from")
    if data.valid_to - valid_from > MAX_VISITOR_PASS_S:
        raise InvalidInputError(f"a visitor pass lasts at most {MAX_VISITOR_PASS_S // 86400} days")
    if not (data.cards or data.qr or data.pins):
        raise InvalidInputError("a visitor pass needs a card, a QR token or a PIN")
    person_id = data.id or f"v-{secrets.token_hex(6)}"
    if db_session.get(AccessPerson, (community, person_id)) is not None:
        raise ConflictError(f"person {person_id} already exists", code="person_exists")
    put = PersonPut(
        kind=PersonKind.visitor,
        name=data.name,
        valid_from=valid_from,
        valid_to=data.valid_to,
        doors=data.doors,
        schedule=data.schedule,
        cards=data.cards,
        qr=data.qr,
        pins=data.pins,
        duress=data.duress,
    )
    return put_person(
        db_session=db_session,
        community=community,
        person_id=person_id,
        data=put,
        at=at,
        issued_by=issued_by,
    )


def delete_person(*, db_session: Session, community: str, person_id: str, at: datetime) -> int:
    """Delete a person (its credentials and consents go with it); returns the new version."""
    person = get_person(db_session=db_session, community=community, person_id=person_id)
    owned = db_session.scalars(
        select(AccessVehicle.plate).where(
            AccessVehicle.community == community, AccessVehicle.person_id == person_id
        )
    ).all()
    if owned:
        raise ConflictError(
            f"person {person_id} owns the vehicles {', '.join(owned)}: reassign or delete them",
            code="person_owns_vehicles",
        )
    db_session.delete(person)
    db_session.flush()
    return lists.record_change(
        db_session=db_session,
        community=community,
        entry_type=EntryType.person,
        key=person_id,
        op="del",
        at=at,
    )


def list_people(
    *,
    db_session: Session,
    community: str,
    kind: str | None,
    black: bool | None,
    offset: int,
    limit: int,
) -> tuple[list[AccessPerson], int]:
    query = select(AccessPerson).where(AccessPerson.community == community)
    if kind is not None:
        query = query.where(AccessPerson.kind == kind)
    if black is not None:
        query = query.where(AccessPerson.black == black)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(query.order_by(AccessPerson.id).offset(offset).limit(limit))
    return list(rows), int(total)


def put_vehicle(
    *, db_session: Session, community: str, plate: str, data: VehiclePut, at: datetime
) -> AccessVehicle:
    require_community(db_session, community)
    if data.person is not None:
        get_person(db_session=db_session, community=community, person_id=data.person)
    vehicle = db_session.get(AccessVehicle, (community, plate))
    if vehicle is None:
        vehicle = AccessVehicle(community=community, plate=plate)
        db_session.add(vehicle)
    vehicle.person_id = data.person
    vehicle.valid_from, vehicle.valid_to = data.valid_from, data.valid_to
    vehicle.doors = sorted(set(data.doors))
    vehicle.black = data.black
    vehicle.updated_at = at
    lists.record_change(
        db_session=db_session,
        community=community,
        entry_type=EntryType.vehicle,
        key=plate,
        op="put",
        at=at,
    )
    return vehicle


def get_vehicle(*, db_session: Session, community: str, plate: str) -> AccessVehicle:
    vehicle = db_session.get(AccessVehicle, (community, plate))
    if vehicle is None:
        raise NotFoundError(
            f"vehicle {plate} not found in community {community}", code="vehicle_not_found"
        )
    return vehicle


def delete_vehicle(*, db_session: Session, community: str, plate: str, at: datetime) -> int:
    db_session.delete(get_vehicle(db_session=db_session, community=community, plate=plate))
    return lists.record_change(
        db_session=db_session,
        community=community,
        entry_type=EntryType.vehicle,
        key=plate,
        op="del",
        at=at,
    )


def list_vehicles(
    *, db_session: Session, community: str, black: bool | None, offset: int, limit: int
) -> tuple[list[AccessVehicle], int]:
    query = select(AccessVehicle).where(AccessVehicle.community == community)
    if black is not None:
        query = query.where(AccessVehicle.black == black)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(query.order_by(AccessVehicle.plate).offset(offset).limit(limit))
    return list(rows), int(total)


def put_schedule(
    *, db_session: Session, community: str, schedule_id: str, data: SchedulePut, at: datetime
) -> AccessSchedule:
    require_community(db_session, community)
    schedule = db_session.get(AccessSchedule, (community, schedule_id))
    if schedule is None:
        schedule = AccessSchedule(community=community, id=schedule_id)
        db_session.add(schedule)
    schedule.days = sorted(data.days)
    schedule.from_hm, schedule.to_hm = data.from_hm, data.to_hm
    schedule.updated_at = at
    lists.record_change(
        db_session=db_session,
        community=community,
        entry_type=EntryType.schedule,
        key=schedule_id,
        op="put",
        at=at,
    )
    return schedule


def delete_schedule(*, db_session: Session, community: str, schedule_id: str, at: datetime) -> int:
    schedule = db_session.get(AccessSchedule, (community, schedule_id))
    if schedule is None:
        raise NotFoundError(f"schedule {schedule_id} not found", code="schedule_not_found")
    users = db_session.scalars(
        select(AccessPerson.id)
        .where(AccessPerson.community == community, AccessPerson.schedule_id == schedule_id)
        .limit(5)
    ).all()
    if users:
        raise ConflictError(
            f"schedule {schedule_id} is used by {', '.join(users)}", code="schedule_in_use"
        )
    db_session.delete(schedule)
    return lists.record_change(
        db_session=db_session,
        community=community,
        entry_type=EntryType.schedule,
        key=schedule_id,
        op="del",
        at=at,
    )


def list_schedules(*, db_session: Session, community: str) -> list[AccessSchedule]:
    return list(
        db_session.scalars(
            select(AccessSchedule)
            .where(AccessSchedule.community == community)
            .order_by(AccessSchedule.id)
        )
    )
