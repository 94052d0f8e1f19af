"""Face-data rules (docs/access.md section 5): consent, the template id, withdrawal.

The hub never holds a face template: a face terminal makes and keeps it, and reports only its
id (``enrolled``). A person gets a template id only while a consent is in force and a card, QR
or PIN exists; withdrawing the consent clears it, a list change that makes every gate delete
the template at its next sync.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.access import entries, lists
from hub.access.models import AccessPerson, EntryType, FaceConsent
from hub.access.people import get_person, has_alternative
from hub.errors import ConflictError, InvalidInputError


def active_consent(*, db_session: Session, community: str, person_id: str) -> FaceConsent | None:
    return db_session.scalars(
        select(FaceConsent)
        .where(
            FaceConsent.community == community,
            FaceConsent.person_id == person_id,
            FaceConsent.withdrawn_at.is_(None),
        )
        .order_by(FaceConsent.id.desc())
    ).first()


def consents_of(*, db_session: Session, community: str, person_id: str) -> list[FaceConsent]:
    return list(
        db_session.scalars(
            select(FaceConsent)
            .where(FaceConsent.community == community, FaceConsent.person_id == person_id)
            .order_by(FaceConsent.id)
        )
    )


def _require_alternative(db_session: Session, person: AccessPerson) -> None:
    creds = entries.credentials_of(
        db_session=db_session, community=person.community, person_ids=[person.id]
    )
    if not has_alternative(creds.get(person.id, {})):
        raise InvalidInputError(
            f"person {person.id} has no card, QR or PIN: face is never the only way in",
            code="face_needs_alternative",
        )


def record_consent(
    *,
    db_session: Session,
    community: str,
    person_id: str,
    purpose: str,
    recorded_by: str,
    at: datetime,
) -> FaceConsent:
    """Record a person's consent to face recognition (refused without a card / QR / PIN, or
    while one is already in force). Caller commits."""
    person = get_person(db_session=db_session, community=community, person_id=person_id)
    _require_alternative(db_session, person)
    if active_consent(db_session=db_session, community=community, person_id=person_id):
        raise ConflictError(
            f"person {person_id} already has a face consent in force", code="consent_exists"
        )
    consent = FaceConsent(
        community=community,
        person_id=person_id,
        purpose=purpose,
        consented_at=at,
        recorded_by=recorded_by,
    )
    db_session.add(consent)
    db_session.flush()
    return consent


def withdraw_consent(
    *, db_session: Session, community: str, person_id: str, withdrawn_by: str, at: datetime
) -> FaceConsent:
    """End the consent in force and clear the template id (a list change). Caller commits."""
    person = get_person(db_session=db_session, community=community, person_id=person_id)
    consent = active_consent(db_session=db_session, community=community, person_id=person_id)
    if consent is None:
        raise ConflictError(f"person {person_id} has no face consent in force", code="no_consent")
    consent.withdrawn_at, consent.withdrawn_by = at, withdrawn_by
    if person.face_template is not None:
        person.face_template = None
        person.updated_at = at
        lists.record_change(
            db_session=db_session,
            community=community,
            entry_type=EntryType.person,
            key=person_id,
            op="put",
            at=at,
        )
    return consent


def prepare_enrolment(*, db_session: Session, community: str, person_id: str) -> dict[str, str]:
    """The args of an ``enrol`` command for a face terminal: the person and the template id the
    terminal is to keep its template under. One id per person and community, chosen here, so
    every face terminal that enrols the person holds it under the id the list names: the id
    follows from the consent in force (``template_id_for``), so a new consent gets a new id.
    Refused without consent or without a card / QR / PIN."""
    person = get_person(db_session=db_session, community=community, person_id=person_id)
    consent = active_consent(db_session=db_session, community=community, person_id=person_id)
    if consent is None:
        raise InvalidInputError(
            f"person {person_id} has no face consent in force: record it before enrolling",
            code="no_consent",
        )
    _require_alternative(db_session, person)
    return {"person": person_id, "template": template_id_for(consent)}


def template_id_for(consent: FaceConsent) -> str:
    """The template id the face terminals keep a person's template under while ``consent`` is
    in force."""
    return f"f-{consent.id}"


def set_template(
    *, db_session: Session, community: str, person_id: str, template: str, at: datetime
) -> AccessPerson:
    """Store the template id a face terminal reported for a person (a list change, so every
    face terminal of the community learns it). Refused without consent or alternative."""
    person = get_person(db_session=db_session, community=community, person_id=person_id)
    consent = active_consent(db_session=db_session, community=community, person_id=person_id)
    if consent is None:
        raise InvalidInputError(
            f"person {person_id} has no face consent in force: not enrolled",
            code="no_consent",
        )
    _require_alternative(db_session, person)
    if template != template_id_for(consent):
        raise InvalidInputError(
            f"template id {template} is not the one assigned to {person_id} "
            f"({template_id_for(consent)}): an enrolment from before the consent in force",
            code="wrong_template_id",
        )
    if person.face_template != template:
        person.face_template = template
        person.updated_at = at
        lists.record_change(
            db_session=db_session,
            community=community,
            entry_type=EntryType.person,
            key=person_id,
            op="put",
            at=at,
        )
    return person
