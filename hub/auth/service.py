"""API tokens: creation (returned once, stored hashed), authentication, scope checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.auth.models import AccountPassword, ApiToken, Role
from hub.clock import Clock
from hub.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from hub.settings import Settings

TOKEN_PREFIX = "glt_"
LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """Who is calling: role, area scope (code prefix; None = everywhere) and unit (role unit)."""

    name: str
    role: Role
    scope_code: str | None = None
    unit_id: int | None = None
    token_id: int | None = None
    session_id: int | None = None  # set when the caller is a signed-in console session

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"

    def covers(self, code: str | None) -> bool:
        """True when the area / grid ``code`` lies inside this principal's scope."""
        if self.scope_code is None:
            return True
        return code is not None and code.startswith(self.scope_code)


def require_roles(principal: Principal, *roles: Role) -> None:
    """Refuse (``PermissionDeniedError``) a principal whose role is not among ``roles``."""
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDeniedError(f"this action needs one of the roles: {allowed}")


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a sound at-rest hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    *,
    db_session: Session,
    name: str,
    role: Role | str,
    scope_code: str | None = None,
    unit_id: int | None = None,
    clock: Clock,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext (shown once, never stored).

    The scope's area (and the unit) must exist: the table's foreign keys check it, so auth
    needs no import of the areas domain (which sits above it and uses it for its routes).
    The name is its account's: a name another live token has is a ``ConflictError``.
    """
    role = Role(role)
    if role != Role.admin and scope_code is None:
        raise InvalidInputError(f"a {role.value} token needs an area scope")
    if role == Role.unit and unit_id is None:
        raise InvalidInputError("a unit token needs a unit_id")
    _refuse_live_name(db_session=db_session, name=name)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:10],
        role=role.value,
        scope_code=scope_code,
        unit_id=unit_id,
        created_at=clock.now(),
    )
    try:
        with db_session.begin_nested():  # a savepoint: the caller's transaction survives
            db_session.add(row)
    except IntegrityError as exc:
        _refuse_live_name(db_session=db_session, name=name)  # made meanwhile by another request
        missing = (
            f"area {scope_code}" if unit_id is None else f"area {scope_code} or unit {unit_id}"
        )
        raise NotFoundError(f"{missing} not found") from exc
    return row, plaintext


def _refuse_live_name(*, db_session: Session, name: str) -> None:
    held = db_session.scalar(
        select(ApiToken.id).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )
    if held is not None:
        raise ConflictError(
            f"a live token is already named {name!r} (token {held}): a name is one account, "
            "so choose another name or revoke that token first"
        )


def create_token_for(
    *,
    db_session: Session,
    admin: Principal,
    name: str,
    role: Role,
    scope_code: str | None,
    unit_id: int | None,
    clock: Clock,
) -> tuple[ApiToken, str]:
    """``create_token`` on behalf of ``admin`` (a scoped admin creates tokens inside its area)."""
    if admin.scope_code is not None and not admin.covers(scope_code):
        raise PermissionDeniedError("a scoped admin can only create tokens inside its area")
    return create_token(
        db_session=db_session,
        name=name,
        role=role,
        scope_code=scope_code,
        unit_id=unit_id,
        clock=clock,
    )


def list_tokens(*, db_session: Session, scope_code: str | None) -> list[ApiToken]:
    """Tokens inside ``scope_code`` (None: all), oldest first."""
    query = select(ApiToken).order_by(ApiToken.id)
    if scope_code is not None:
        query = query.where(ApiToken.scope_code.startswith(scope_code, autoescape=True))
    return list(db_session.scalars(query))


def authenticate(
    *, db_session: Session, token: str | None, settings: Settings, clock: Clock
) -> Principal:
    if not token:
        raise AuthenticationError("missing bearer token")
    if hmac.compare_digest(token.encode(), settings.admin_token.get_secret_value().encode()):
        return Principal(name="admin", role=Role.admin)
    row = db_session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("unknown or revoked token")
    now = clock.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now  # coarse, so reads do not write on every request
    return Principal(
        name=row.name,
        role=Role(row.role),
        scope_code=row.scope_code,
        unit_id=row.unit_id,
        token_id=row.id,
    )


def revoke_token(*, db_session: Session, token_id: int, by: Principal, at: datetime) -> ApiToken:
    """Revoke a token ``by`` an admin; tokens outside a scoped admin's area are not found.

    Its account password goes with it: a later token with the same name has none."""
    row = db_session.get(ApiToken, token_id)
    if row is None or (by.scope_code is not None and not by.covers(row.scope_code)):
        raise NotFoundError(f"token {token_id} not found")
    row.revoked_at = row.revoked_at or at
    db_session.execute(delete(AccountPassword).where(AccountPassword.token_id == row.id))
    return row
