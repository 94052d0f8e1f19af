"""Grants of a data grade: given and withdrawn by admins, read per request (``reader_for``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.models import ApiToken, Role
from hub.auth.service import Principal, require_roles
from hub.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from hub.privacy import audit
from hub.privacy.models import DataGrant
from hub.privacy.policy import Reader, require_reader


def live_grant(*, db_session: Session, token_id: int | None, now: datetime) -> DataGrant | None:
    if token_id is None:
        return None
    row = db_session.get(DataGrant, token_id)
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row


def reader_for(
    *, db_session: Session, principal: Principal, purpose: str | None, now: datetime
) -> Reader:
    """``principal`` as a reader of base data (units are refused), with its live grant."""
    require_reader(principal)
    grant = live_grant(db_session=db_session, token_id=principal.token_id, now=now)
    return Reader(
        principal=principal,
        identity=grant is not None and grant.identity,
        auditor=grant is not None and grant.auditor,
        purpose=purpose or None,
    )


def require_auditor(*, db_session: Session, principal: Principal, now: datetime) -> None:
    """Admins and holders of an auditor grant may query the access audit."""
    if principal.role == Role.admin:
        return
    grant = live_grant(db_session=db_session, token_id=principal.token_id, now=now)
    if grant is None or not grant.auditor:
        raise PermissionDeniedError("the access audit is read by admins and auditors only")


def _token_in_scope(*, db_session: Session, admin: Principal, token_id: int) -> ApiToken:
    token = db_session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None or not admin.covers(token.scope_code):
        raise NotFoundError(f"token {token_id} not found", code="token_not_found")
    return token


def token_of(*, db_session: Session, token_id: int) -> ApiToken:
    token = db_session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"token {token_id} not found", code="token_not_found")
    return token


def put_grant(
    *,
    db_session: Session,
    admin: Principal,
    token_id: int,
    identity: bool,
    auditor: bool,
    reason: str,
    expires_at: datetime | None,
    now: datetime,
) -> DataGrant:
    """Give (or change) the grant of ``token_id``'s account; recorded in the access audit."""
    require_roles(admin, Role.admin)
    token = _token_in_scope(db_session=db_session, admin=admin, token_id=token_id)
    if admin.token_id == token_id:
        raise PermissionDeniedError("an account cannot grant itself a data grade")
    if token.role == Role.unit and (identity or auditor):
        raise InvalidInputError("a unit account reads no base data: it cannot hold a grant")
    if expires_at is not None and expires_at <= now:
        raise InvalidInputError("expires_at must be in the future", field="expires_at")
    row = db_session.get(DataGrant, token_id)
    if row is None:
        row = DataGrant(token_id=token_id, reason=reason, granted_by=admin.actor, granted_at=now)
        db_session.add(row)
    row.identity, row.auditor, row.reason = identity, auditor, reason
    row.granted_by, row.granted_at, row.expires_at = admin.actor, now, expires_at
    db_session.flush()
    grades = [g for g, on in (("identity", identity), ("auditor", auditor)) if on]
    audit.record_grant(
        db_session=db_session,
        admin=admin,
        token_id=token_id,
        grades=grades,
        reason=reason,
        at=now,
    )
    return row


def withdraw_grant(
    *, db_session: Session, admin: Principal, token_id: int, reason: str, now: datetime
) -> None:
    require_roles(admin, Role.admin)
    _token_in_scope(db_session=db_session, admin=admin, token_id=token_id)
    row = db_session.get(DataGrant, token_id)
    if row is None:
        raise NotFoundError(f"token {token_id} holds no grant", code="grant_not_found")
    db_session.delete(row)
    audit.record_grant(
        db_session=db_session, admin=admin, token_id=token_id, grades=[], reason=reason, at=now
    )


def list_grants(*, db_session: Session, admin: Principal) -> list[tuple[DataGrant, ApiToken]]:
    require_roles(admin, Role.admin)
    query = select(DataGrant, ApiToken).join(ApiToken, ApiToken.id == DataGrant.token_id)
    if admin.scope_code is not None:
        query = query.where(ApiToken.scope_code.startswith(admin.scope_code, autoescape=True))
    return [(g, t) for g, t in db_session.execute(query.order_by(DataGrant.token_id))]
