"""Personal data protection over HTTP: grants (admins), what I see, the access audit (admins
and auditors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.auth.deps import AdminUser, CurrentUser
from hub.bounds import Instant, PageOffset, RowId
from hub.deps import ClockDep, SessionDep
from hub.privacy import audit, grants
from hub.privacy.models import DataGrant
from hub.privacy.policy import FIELDS
from hub.privacy.schemas import AuditRead, FieldsRead, GrantPut, GrantRead, GrantWithdraw, Purpose

router = APIRouter(prefix="/api/privacy", tags=["privacy"])


def _grant_read(grant: DataGrant, account: str, role: str, scope: str | None) -> GrantRead:
    return GrantRead(
        token_id=grant.token_id,
        account=account,
        role=role,
        scope_code=scope,
        identity=grant.identity,
        auditor=grant.auditor,
        reason=grant.reason,
        granted_by=grant.granted_by,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
    )


@router.get("/grants", response_model=list[GrantRead])
def list_grants(db_session: SessionDep, user: AdminUser) -> list[GrantRead]:
    rows = grants.list_grants(db_session=db_session, admin=user)
    return [_grant_read(g, t.name, t.role, t.scope_code) for g, t in rows]


@router.put("/grants/{token_id}", response_model=GrantRead)
def put_grant(
    token_id: RowId, body: GrantPut, db_session: SessionDep, user: AdminUser, clock: ClockDep
) -> GrantRead:
    """Give an account (by its token id) the identity grade and / or the auditor grade."""
    row = grants.put_grant(
        db_session=db_session,
        admin=user,
        token_id=token_id,
        identity=body.identity,
        auditor=body.auditor,
        reason=body.reason,
        expires_at=body.expires_at,
        now=clock.now(),
    )
    db_session.commit()
    token = grants.token_of(db_session=db_session, token_id=token_id)
    return _grant_read(row, token.name, token.role, token.scope_code)


@router.post("/grants/{token_id}/withdraw", status_code=204)
def withdraw_grant(
    token_id: RowId, body: GrantWithdraw, db_session: SessionDep, user: AdminUser, clock: ClockDep
) -> None:
    grants.withdraw_grant(
        db_session=db_session, admin=user, token_id=token_id, reason=body.reason, now=clock.now()
    )
    db_session.commit()


@router.get("/me", response_model=FieldsRead)
def my_fields(
    db_session: SessionDep, user: CurrentUser, clock: ClockDep, purpose: Purpose | None = None
) -> FieldsRead:
    """The personal fields the caller gets per kind of record (given ``purpose`` or not)."""
    reader = grants.reader_for(
        db_session=db_session, principal=user, purpose=purpose, now=clock.now()
    )
    return FieldsRead(
        identity_grant=reader.identity,
        auditor_grant=reader.auditor,
        visible={k: reader.shown(k) for k in FIELDS},
        withheld={k: reader.withheld(k) for k in FIELDS},
    )


@router.get("/audits", response_model=list[AuditRead])
def list_audits(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    actor: str | None = None,
    kind: str | None = None,
    action: str | None = None,
    record_id: RowId | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: PageOffset = 0,
) -> list[AuditRead]:
    """Who read which personal data, when and why (newest first), for readers inside the
    caller's area. ``record_id`` with ``kind`` finds every read of one record."""
    grants.require_auditor(db_session=db_session, principal=user, now=clock.now())
    rows = audit.query_audits(
        db_session=db_session,
        scope_code=user.scope_code,
        actor=actor,
        kind=kind,
        action=action,
        record_id=record_id,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    return [AuditRead.model_validate(r) for r in rows]
