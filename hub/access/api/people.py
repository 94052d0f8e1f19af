"""People, vehicles, schedules, visitor passes, face consents and list status of a community.
Every change answers with the community's new list version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from hub.access import entries, faces, lists, people
from hub.access.api.common import PREFIX, CommunityPath, require_community_access
from hub.access.models import AccessListVersion, AccessPerson, PersonKind
from hub.access.schemas import (
    ConsentCreate,
    ConsentRead,
    DeviceListRead,
    EntryId,
    ListStatus,
    PersonPage,
    PersonPut,
    PersonRead,
    Plate,
    SchedulePut,
    ScheduleRead,
    VehiclePut,
    VehicleRead,
    VisitorPassCreate,
)
from hub.auth.deps import CurrentUser
from hub.bounds import PageOffset
from hub.deps import ClockDep, SessionDep

router = APIRouter(prefix=f"{PREFIX}/communities/{{community}}", tags=["access"])
Limit = Annotated[int, Query(ge=1, le=500)]


def _person_read(db_session: Session, person: AccessPerson) -> PersonRead:
    creds = entries.credentials_of(
        db_session=db_session, community=person.community, person_ids=[person.id]
    ).get(person.id, {})
    consent = faces.active_consent(
        db_session=db_session, community=person.community, person_id=person.id
    )
    return PersonRead(
        community=person.community,
        id=person.id,
        kind=person.kind,
        name=person.name,
        valid_from=person.valid_from,
        valid_to=person.valid_to,
        doors=list(person.doors),
        schedule=person.schedule_id,
        black=person.black,
        cards=creds.get("card", []),
        qr=creds.get("qr", []),
        pins=creds.get("pin", []),
        duress=creds.get("duress", []),
        face_template=person.face_template,
        face_consent=consent is not None,
        issued_by=person.issued_by,
        created_at=person.created_at,
        updated_at=person.updated_at,
        version=lists.current_version(db_session=db_session, community=person.community),
    )


@router.get("/people", response_model=PersonPage, summary="People of a community")
def list_people(
    community: CommunityPath,
    db_session: SessionDep,
    user: CurrentUser,
    kind: PersonKind | None = None,
    black: bool | None = None,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> PersonPage:
    require_community_access(user, community)
    rows, total = people.list_people(
        db_session=db_session,
        community=community,
        kind=kind.value if kind else None,
        black=black,
        offset=offset,
        limit=limit,
    )
    return PersonPage(items=[_person_read(db_session, p) for p in rows], total=total)


@router.get("/people/{person_id}", response_model=PersonRead)
def get_person(
    community: CommunityPath, person_id: EntryId, db_session: SessionDep, user: CurrentUser
) -> PersonRead:
    require_community_access(user, community)
    person = people.get_person(db_session=db_session, community=community, person_id=person_id)
    return _person_read(db_session, person)


@router.put("/people/{person_id}", response_model=PersonRead, summary="Create or replace")
def put_person(
    community: CommunityPath,
    person_id: EntryId,
    body: PersonPut,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> PersonRead:
    require_community_access(user, community)
    person = people.put_person(
        db_session=db_session, community=community, person_id=person_id, data=body, at=clock.now()
    )
    db_session.commit()
    return _person_read(db_session, person)


@router.delete("/people/{person_id}", response_model=ListStatus)
def delete_person(
    community: CommunityPath,
    person_id: EntryId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> ListStatus:
    require_community_access(user, community)
    people.delete_person(
        db_session=db_session, community=community, person_id=person_id, at=clock.now()
    )
    db_session.commit()
    return _status(db_session, community)


@router.post("/visitor-passes", response_model=PersonRead, status_code=201)
def issue_visitor_pass(
    community: CommunityPath,
    body: VisitorPassCreate,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> PersonRead:
    """A visitor pass issued by the caller; the gates receive it with the next list sync."""
    require_community_access(user, community)
    person = people.issue_visitor_pass(
        db_session=db_session, community=community, data=body, issued_by=user.actor, at=clock.now()
    )
    db_session.commit()
    return _person_read(db_session, person)


@router.get("/people/{person_id}/consents", response_model=list[ConsentRead])
def list_consents(
    community: CommunityPath, person_id: EntryId, db_session: SessionDep, user: CurrentUser
) -> list[ConsentRead]:
    require_community_access(user, community)
    people.get_person(db_session=db_session, community=community, person_id=person_id)
    rows = faces.consents_of(db_session=db_session, community=community, person_id=person_id)
    return [ConsentRead.model_validate(c) for c in rows]


@router.post("/people/{person_id}/consents", response_model=ConsentRead, status_code=201)
def record_consent(
    community: CommunityPath,
    person_id: EntryId,
    body: ConsentCreate,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> ConsentRead:
    """Record the person's consent to face recognition (recorded by the caller)."""
    require_community_access(user, community)
    consent = faces.record_consent(
        db_session=db_session,
        community=community,
        person_id=person_id,
        purpose=body.purpose,
        recorded_by=user.actor,
        at=clock.now(),
    )
    db_session.commit()
    return ConsentRead.model_validate(consent)


@router.post("/people/{person_id}/consents/withdraw", response_model=ConsentRead)
def withdraw_consent(
    community: CommunityPath,
    person_id: EntryId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> ConsentRead:
    """End the consent: the template id is cleared and every gate deletes the template."""
    require_community_access(user, community)
    consent = faces.withdraw_consent(
        db_session=db_session,
        community=community,
        person_id=person_id,
        withdrawn_by=user.actor,
        at=clock.now(),
    )
    db_session.commit()
    return ConsentRead.model_validate(consent)


@router.get("/vehicles", response_model=list[VehicleRead])
def list_vehicles(
    community: CommunityPath,
    db_session: SessionDep,
    user: CurrentUser,
    black: bool | None = None,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> list[VehicleRead]:
    require_community_access(user, community)
    rows, _total = people.list_vehicles(
        db_session=db_session, community=community, black=black, offset=offset, limit=limit
    )
    return [VehicleRead.model_validate(v) for v in rows]


@router.put("/vehicles/{plate}", response_model=VehicleRead)
def put_vehicle(
    community: CommunityPath,
    plate: Plate,
    body: VehiclePut,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> VehicleRead:
    require_community_access(user, community)
    vehicle = people.put_vehicle(
        db_session=db_session, community=community, plate=plate, data=body, at=clock.now()
    )
    db_session.commit()
    return VehicleRead.model_validate(vehicle)


@router.delete("/vehicles/{plate}", response_model=ListStatus)
def delete_vehicle(
    community: CommunityPath,
    plate: Plate,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> ListStatus:
    require_community_access(user, community)
    people.delete_vehicle(db_session=db_session, community=community, plate=plate, at=clock.now())
    db_session.commit()
    return _status(db_session, community)


@router.get("/schedules", response_model=list[ScheduleRead])
def list_schedules(
    community: CommunityPath, db_session: SessionDep, user: CurrentUser
) -> list[ScheduleRead]:
    require_community_access(user, community)
    rows = people.list_schedules(db_session=db_session, community=community)
    return [ScheduleRead.model_validate(s) for s in rows]


@router.put("/schedules/{schedule_id}", response_model=ScheduleRead)
def put_schedule(
    community: CommunityPath,
    schedule_id: EntryId,
    body: SchedulePut,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> ScheduleRead:
    require_community_access(user, community)
    schedule = people.put_schedule(
        db_session=db_session,
        community=community,
        schedule_id=schedule_id,
        data=body,
        at=clock.now(),
    )
    db_session.commit()
    return ScheduleRead.model_validate(schedule)


@router.delete("/schedules/{schedule_id}", response_model=ListStatus)
def delete_schedule(
    community: CommunityPath,
    schedule_id: EntryId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> ListStatus:
    require_community_access(user, community)
    people.delete_schedule(
        db_session=db_session, community=community, schedule_id=schedule_id, at=clock.now()
    )
    db_session.commit()
    return _status(db_session, community)


def _status(db_session: Session, community: str) -> ListStatus:
    row = db_session.get(AccessListVersion, community)
    devices = [
        DeviceListRead(device_id=device.id, kind=device.kind, version=version)
        for device, version in lists.device_versions(db_session=db_session, community=community)
    ]
    return ListStatus(
        community=community,
        version=row.version if row else 0,
        log_floor=row.log_floor if row else 0,
        devices=devices,
    )


@router.get("/lists", response_model=ListStatus, summary="List version and the gates' versions")
def list_status(community: CommunityPath, db_session: SessionDep, user: CurrentUser) -> ListStatus:
    require_community_access(user, community)
    people.require_community(db_session, community)
    return _status(db_session, community)
