"""People, credentials, visitor passes and the face-data rules (consent, template id,
withdrawal, face never the only way in)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from hub.access import faces, lists, people
from hub.access.schemas import PersonPut, VisitorPassCreate
from hub.access.service import record_enrolment
from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.seed import DemoData
from tests.hub.access.conftest import COMMUNITY, pin_hash, resident


def test_a_card_belongs_to_one_person_and_cited_schedules_must_exist(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    at = clock.now()
    people.put_person(
        db_session=db_session, community=COMMUNITY, person_id="p-1", data=resident(), at=at
    )
    with pytest.raises(ConflictError, match="card 04A1B2C3 already belongs to person p-1"):
        people.put_person(
            db_session=db_session, community=COMMUNITY, person_id="p-2", data=resident(), at=at
        )
    with pytest.raises(InvalidInputError, match="schedule s-none does not exist"):
        people.put_person(
            db_session=db_session,
            community=COMMUNITY,
            person_id="p-3",
            data=resident(cards=["0A0B0C0D"], schedule="s-none"),
            at=at,
        )
    with pytest.raises(InvalidInputError, match="both a normal and a duress"):
        people.put_person(
            db_session=db_session,
            community=COMMUNITY,
            person_id="p-4",
            data=resident(cards=["0E0F0A0B"], pins=[pin_hash("1")], duress=[pin_hash("1")]),
            at=at,
        )
    with pytest.raises(NotFoundError, match="community 330102001 not found"):
        people.put_person(
            db_session=db_session,
            community="330102001",
            person_id="p-5",
            data=resident(cards=["0C0C0C0C"]),
            at=at,
        )
    # The same card in another community is another card.
    people.put_person(
        db_session=db_session, community="330102001002", person_id="p-2", data=resident(), at=at
    )


def test_face_needs_consent_and_an_alternative_and_withdrawal_clears_it(
    db_session: Session, gates: dict[str, Device], clock: FrozenClock
) -> None:
    at = clock.now()
    face = gates["face"]
    people.put_person(
        db_session=db_session, community=COMMUNITY, person_id="p-12", data=resident(), at=at
    )
    people.put_person(
        db_session=db_session, community=COMMUNITY, person_id="p-bare", data=PersonPut(), at=at
    )
    enrolled = {"person": "p-12", "template": "t-0007"}
    with pytest.raises(InvalidInputError, match="no face consent"):
        record_enrolment(db_session=db_session, device=face, body=enrolled, at=at)
    with pytest.raises(InvalidInputError, match="face is never the only way in"):
        faces.record_consent(
            db_session=db_session,
            community=COMMUNITY,
            person_id="p-bare",
            purpose="gate entry",
            recorded_by="operator:x",
            at=at,
        )
    consent = faces.record_consent(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-12",
        purpose="gate entry",
        recorded_by="operator:x",
        at=at,
    )
    assert (consent.recorded_by, consent.purpose, consent.consented_at) == (
        "operator:x",
        "gate entry",
        at,
    )
    with pytest.raises(InvalidInputError, match="only face terminals enrol"):
        record_enrolment(db_session=db_session, device=gates["access"], body=enrolled, at=at)
    with pytest.raises(InvalidInputError, match="enrolled.template"):
        record_enrolment(
            db_session=db_session, device=face, body={"person": "p-12", "template": ""}, at=at
        )
    with pytest.raises(InvalidInputError, match="not the one assigned"):
        record_enrolment(db_session=db_session, device=face, body=enrolled, at=at)
    # the hub names the template id: the same for every face terminal under this consent
    args = faces.prepare_enrolment(db_session=db_session, community=COMMUNITY, person_id="p-12")
    assert args == {"person": "p-12", "template": faces.template_id_for(consent)}
    enrolled = dict(args)
    person = record_enrolment(db_session=db_session, device=face, body=enrolled, at=at)
    assert person.face_template == args["template"]
    base = lists.current_version(db_session=db_session, community=COMMUNITY)
    # Dropping the last card while face access is on is refused; the person keeps the card.
    with pytest.raises(InvalidInputError, match="face is never the only way in"):
        people.put_person(
            db_session=db_session, community=COMMUNITY, person_id="p-12", data=PersonPut(), at=at
        )
    assert (
        people.get_person(
            db_session=db_session, community=COMMUNITY, person_id="p-12"
        ).face_template
        == args["template"]
    )
    # Withdrawal: the template id goes and the next delta tells every gate to delete it.
    later = at + timedelta(days=3)
    done = faces.withdraw_consent(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-12",
        withdrawn_by="operator:y",
        at=later,
    )
    assert (done.withdrawn_at, done.withdrawn_by) == (later, "operator:y")
    found = lists.delta(db_session=db_session, community=COMMUNITY, base=base)
    assert found is not None
    assert [(e["op"], e["id"], e["face"]) for e in found[1]] == [("put", "p-12", None)]
    with pytest.raises(ConflictError, match="no face consent in force"):
        faces.withdraw_consent(
            db_session=db_session,
            community=COMMUNITY,
            person_id="p-12",
            withdrawn_by="operator:y",
            at=later,
        )
    with pytest.raises(InvalidInputError, match="no face consent"):
        record_enrolment(db_session=db_session, device=face, body=enrolled, at=later)


def test_visitor_pass(db_session: Session, demo: DemoData, clock: FrozenClock) -> None:
    at = clock.now()
    now = int(at.timestamp())
    visitor = people.issue_visitor_pass(
        db_session=db_session,
        community=COMMUNITY,
        data=VisitorPassCreate(
            name="Courier", valid_to=now + 3600, qr=["visit-0001-abcd"], doors=["d1"]
        ),
        issued_by="operator:community",
        at=at,
    )
    assert (visitor.kind, visitor.valid_from, visitor.valid_to, visitor.issued_by) == (
        "visitor",
        now,
        now + 3600,
        "operator:community",
    )
    assert visitor.id.startswith("v-")
    _version, entries = lists.snapshot(db_session=db_session, community=COMMUNITY)
    assert (
        entries[0]["kind"] == "visitor"
        and entries[0]["qr"] == ["visit-0001-abcd"]
        and entries[0]["doors"] == ["d1"]
    )
    with pytest.raises(InvalidInputError, match="expire in the future"):
        people.issue_visitor_pass(
            db_session=db_session,
            community=COMMUNITY,
            data=VisitorPassCreate(valid_to=now - 1, qr=["visit-0002-abcd"]),
            issued_by="o",
            at=at,
        )
    with pytest.raises(InvalidInputError, match="at most 30 days"):
        people.issue_visitor_pass(
            db_session=db_session,
            community=COMMUNITY,
            data=VisitorPassCreate(valid_to=now + 31 * 86400, qr=["visit-0003-abcd"]),
            issued_by="o",
            at=at,
        )
    with pytest.raises(InvalidInputError, match="needs a card, a QR token or a PIN"):
        people.issue_visitor_pass(
            db_session=db_session,
            community=COMMUNITY,
            data=VisitorPassCreate(valid_to=now + 60),
            issued_by="o",
            at=at,
        )


def test_deletes_that_would_leave_dangling_references_are_refused(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    from hub.access.schemas import SchedulePut, VehiclePut

    at = clock.now()
    people.put_schedule(
        db_session=db_session,
        community=COMMUNITY,
        schedule_id="s-day",
        data=SchedulePut.model_validate({"days": [1], "from": "06:00", "to": "23:00"}),
        at=at,
    )
    people.put_person(
        db_session=db_session,
        community=COMMUNITY,
        person_id="p-1",
        data=resident(schedule="s-day"),
        at=at,
    )
    people.put_vehicle(
        db_session=db_session,
        community=COMMUNITY,
        plate="浙A12345",
        data=VehiclePut(person="p-1"),
        at=at,
    )
    with pytest.raises(ConflictError, match="schedule s-day is used by p-1"):
        people.delete_schedule(
            db_session=db_session, community=COMMUNITY, schedule_id="s-day", at=at
        )
    with pytest.raises(ConflictError, match="owns the vehicles 浙A12345"):
        people.delete_person(db_session=db_session, community=COMMUNITY, person_id="p-1", at=at)
    with pytest.raises(NotFoundError):
        people.put_vehicle(
            db_session=db_session,
            community=COMMUNITY,
            plate="浙B00001",
            data=VehiclePut(person="p-x"),
            at=at,
        )
