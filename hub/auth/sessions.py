"""Console sessions: a random secret in an HttpOnly cookie, only its SHA-256 in the database.

A session acts as the API token it was opened for (role, area scope, unit): the same
``Principal`` a bearer request gets. It ends at ``expires_at`` (``session_max_age_s`` after
sign-in), after ``session_idle_timeout_s`` without a request, at sign-out, when the account's
password is set again, when an admin ends the account's sessions, or when its token is revoked.

CSRF: requests authenticated by the cookie that change state must carry the session's CSRF
token in the ``X-CSRF-Token`` header. The token is derived from the secret
(``csrf_token``), so the hub stores nothing more and a leaked table yields neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hub.auth.models import ApiToken, ConsoleSession, Role
from hub.auth.service import Principal
from hub.clock import Clock
from hub.errors import AuthenticationError
from hub.settings import Settings

SESSION_EXPIRED = "not signed in, or the session has ended: sign in again"
# Ended and expired sessions are kept this long (who was signed in when), then deleted.
KEEP_ENDED = timedelta(days=30)
MAX_SECRET_LENGTH = 128


@dataclass(frozen=True)
class OpenedSession:
    row: ConsoleSession
    secret: str  # the cookie's value; never stored
    csrf_token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(b"gridlink-session:" + secret.encode()).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    return hashlib.sha256(b"gridlink-csrf:" + secret.encode()).hexdigest()


def csrf_matches(secret: str, header: str | None) -> bool:
    """The header is the session's CSRF token (a header with non-ASCII text never is)."""
    if header is None or not header.isascii():
        return False
    return hmac.compare_digest(csrf_token(secret).encode(), header.encode())


def _touch_resolution(settings: Settings) -> timedelta:
    """``last_seen_at`` is written at most this often (reads do not write on every request)."""
    return timedelta(seconds=min(60, settings.session_idle_timeout_s // 10))


def open_session(
    *, db_session: Session, token: ApiToken, method: str, settings: Settings, clock: Clock
) -> OpenedSession:
    now = clock.now()
    db_session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now - KEEP_ENDED))
    secret = secrets.token_urlsafe(32)
    row = ConsoleSession(
        secret_hash=_hash(secret),
        account=token.name,
        token_id=token.id,
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_max_age_s),
    )
    db_session.add(row)
    db_session.flush()
    return OpenedSession(row=row, secret=secret, csrf_token=csrf_token(secret))


def _live(
    *, db_session: Session, secret: str, settings: Settings, now: datetime
) -> tuple[ConsoleSession, ApiToken] | None:
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    found = db_session.execute(
        select(ConsoleSession, ApiToken)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(ConsoleSession.secret_hash == _hash(secret))
    ).one_or_none()
    if found is None:
        return None
    row, token = found
    idle = timedelta(seconds=settings.session_idle_timeout_s)
    if row.ended_at is not None:
        return None
    if token.revoked_at is not None:
        _end(row, now, "token revoked")
        return None
    if now >= row.expires_at:
        _end(row, now, "expired")
        return None
    if now - row.last_seen_at >= idle:
        _end(row, now, "idle")
        return None
    return row, token


def _end(row: ConsoleSession, at: datetime, reason: str) -> None:
    row.ended_at = at
    row.end_reason = reason


def session_principal(
    *, db_session: Session, secret: str, settings: Settings, clock: Clock
) -> Principal:
    """The principal of the live session whose cookie holds ``secret``; else
    ``AuthenticationError``. Ending an expired session is left on ``db_session`` (the caller
    commits it)."""
    now = clock.now()
    live = _live(db_session=db_session, secret=secret, settings=settings, now=now)
    if live is None:
        raise AuthenticationError(SESSION_EXPIRED)
    row, token = live
    if now - row.last_seen_at >= _touch_resolution(settings):
        row.last_seen_at = now
    return Principal(
        name=token.name,
        role=Role(token.role),
        scope_code=token.scope_code,
        unit_id=token.unit_id,
        token_id=token.id,
        session_id=row.id,
    )


def session_of(
    *, db_session: Session, secret: str, settings: Settings, clock: Clock
) -> ConsoleSession | None:
    live = _live(db_session=db_session, secret=secret, settings=settings, now=clock.now())
    return live[0] if live else None


def end_session(*, db_session: Session, session_id: int, at: datetime) -> None:
    row = db_session.get(ConsoleSession, session_id)
    if row is not None and row.ended_at is None:
        _end(row, at, "signed out")


def end_account_sessions(*, db_session: Session, account: str, at: datetime, reason: str) -> int:
    """End every open session of ``account``; how many there were."""
    result = db_session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.account == account, ConsoleSession.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)
