"""Account passwords: set by an admin (argon2id hash only), checked at console sign-in.

An account is the name of a live API token (what ``gridlink hub import`` creates from
accounts.csv, or ``POST /api/tokens``); a password session acts as that token. A name held by
several live tokens is ambiguous and gets no password.

Sign-in costs one argon2 verification whatever happens (unknown account, locked account,
wrong password: against a dummy hash), so the time does not tell which it was, and every
failure is one message (``SIGN_IN_FAILED``). ``login_max_failures`` wrong passwords in a row
lock the account's password sign-in for ``login_lockout_s``: during the lock even the right
password fails (with the same message), and the lock is not extended by further attempts.
Setting a new password lifts the lock.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.models import AccountPassword, ApiToken
from hub.auth.sessions import end_account_sessions
from hub.clock import Clock
from hub.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from hub.settings import Settings

logger = logging.getLogger(__name__)

MAX_PASSWORD_LENGTH = 256
SIGN_IN_FAILED = "sign-in failed: wrong account or password, or too many failed attempts"

# argon2id with argon2-cffi's defaults: RFC 9106's second recommended profile (t=3, 64 MiB, p=4).
_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash nobody's password matches: verified when there is no real one to check."""
    return _hasher.hash("gridlink: no such account")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        logger.error("an account's password hash cannot be verified (corrupt row?)")
        return False


def account_token(*, db_session: Session, account: str) -> ApiToken:
    """The one live token named ``account`` (``NotFoundError`` / ``ConflictError``)."""
    rows = list(
        db_session.scalars(
            select(ApiToken).where(ApiToken.name == account, ApiToken.revoked_at.is_(None))
        )
    )
    if not rows:
        raise NotFoundError(f"account {account!r} not found")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise ConflictError(
            f"account {account!r} is {len(rows)} live tokens ({ids}): revoke all but one"
        )
    return rows[0]


def account_in_scope(*, db_session: Session, account: str, scope_code: str | None) -> ApiToken:
    """``account_token``, when the account lies inside ``scope_code`` (None: everywhere)."""
    token = account_token(db_session=db_session, account=account)
    inside = scope_code is None or (
        token.scope_code is not None and token.scope_code.startswith(scope_code)
    )
    if not inside:
        raise NotFoundError(f"account {account!r} not found")
    return token


def check_password(password: str, settings: Settings) -> None:
    if len(password) < settings.password_min_length:
        raise InvalidInputError(
            f"the password is too short: at least {settings.password_min_length} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"the password is too long: at most {MAX_PASSWORD_LENGTH}")
    if password.strip() != password:
        raise InvalidInputError("the password starts or ends with white space")


def set_password(
    *,
    db_session: Session,
    account: str,
    password: str,
    by: str,
    scope_code: str | None,
    settings: Settings,
    clock: Clock,
) -> AccountPassword:
    """Set (or replace) ``account``'s password; lifts a lock and ends its open sessions.

    ``scope_code`` is the setter's scope: an account outside it is not found.
    """
    account_in_scope(db_session=db_session, account=account, scope_code=scope_code)
    check_password(password, settings)
    now = clock.now()
    row = db_session.get(AccountPassword, account)
    if row is None:
        row = AccountPassword(account=account)
        db_session.add(row)
    row.password_hash = _hasher.hash(password)
    row.set_at = now
    row.set_by = by
    row.failed_attempts = 0
    row.last_failed_at = None
    row.locked_until = None
    end_account_sessions(db_session=db_session, account=account, at=now, reason="password")
    return row


def sign_in(
    *, db_session: Session, account: str, password: str, settings: Settings, clock: Clock
) -> ApiToken:
    """The account's token when ``password`` is right and the account not locked; else an
    ``AuthenticationError`` (``SIGN_IN_FAILED``), after recording the failure on the session:
    the caller commits before answering, so a failure counts even though it is an error."""
    now = clock.now()
    row = db_session.get(AccountPassword, account)
    locked = row is not None and row.locked_until is not None and now < row.locked_until
    checked = row.password_hash if row is not None and not locked else _dummy_hash()
    right = _verify(checked, password)
    if row is None or locked:
        raise AuthenticationError(SIGN_IN_FAILED)
    if not right:
        row.failed_attempts += 1
        row.last_failed_at = now
        if row.failed_attempts >= settings.login_max_failures:
            row.locked_until = now + timedelta(seconds=settings.login_lockout_s)
            row.failed_attempts = 0
            logger.warning(
                "account %r: %d wrong passwords in a row, password sign-in locked until %s",
                account,
                settings.login_max_failures,
                row.locked_until.isoformat(),
            )
        raise AuthenticationError(SIGN_IN_FAILED)
    try:
        token = account_token(db_session=db_session, account=account)
    except (NotFoundError, ConflictError) as exc:  # the token was revoked, or a second made
        logger.warning("password sign-in of %r refused: %s", account, exc.message)
        raise AuthenticationError(SIGN_IN_FAILED) from None
    row.failed_attempts = 0
    row.locked_until = None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    return token
