"""Account passwords: set by an admin (argon2id hash only), checked at console sign-in.

An account is the name of a live API token (what ``gridlink hub import`` creates from
accounts.csv, or ``POST /api/tokens``; at most one live token has a name). Its password row
belongs to that token (``token_id``) and goes when the token is revoked, so a later token with
the same name starts without one; a password session acts as that token.

Sign-in costs one argon2 verification whatever happens (unknown account, locked account,
wrong password: against a dummy hash), so the time does not tell which it was, and every
failure is one message (``SIGN_IN_FAILED``). Each attempt is counted by one atomic UPDATE
and committed *before* its check, so parallel guesses cannot share a count: the
``login_max_failures``-th attempt in a row sets the lock (``login_lockout_s``) as it is
counted; a right password clears the count and the lock. So at most that many passwords are
ever checked per lock, however many arrive at once. During the lock even the right password
fails (with the same message), and the lock is not extended by further attempts. Setting a
new password lifts the lock.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from hub.auth.models import AccountPassword, ApiToken
from hub.auth.sessions import end_account_sessions
from hub.clock import Clock
from hub.db import UTCDateTime
from hub.errors import AuthenticationError, InvalidInputError, NotFoundError
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
    """The live token named ``account`` (``NotFoundError``)."""
    token = db_session.scalar(
        select(ApiToken).where(ApiToken.name == account, ApiToken.revoked_at.is_(None))
    )
    if token is None:
        raise NotFoundError(f"account {account!r} not found")
    return token


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
    token = account_in_scope(db_session=db_session, account=account, scope_code=scope_code)
    check_password(password, settings)
    now = clock.now()
    row = db_session.get(AccountPassword, token.id)
    if row is None:
        row = AccountPassword(token_id=token.id)
        db_session.add(row)
    row.password_hash = _hasher.hash(password)
    row.set_at = now
    row.set_by = by
    row.failed_attempts = 0
    row.last_attempt_at = None
    row.locked_until = None
    end_account_sessions(db_session=db_session, account=account, at=now, reason="password")
    return row


def _count_attempt(
    *, db_session: Session, token_id: int, settings: Settings, clock: Clock
) -> tuple[int, str] | None:
    """Count one attempt on ``token_id``'s password, atomically: its number in the current run
    and the hash to check; None when there is no password or it is locked. The attempt that
    reaches ``login_max_failures`` sets the lock in the same statement."""
    now = clock.now()
    expired = AccountPassword.locked_until.is_not(None)  # (a live lock is not selected)
    count = case((expired, literal(1)), else_=AccountPassword.failed_attempts + 1)
    lock_at = literal(now + timedelta(seconds=settings.login_lockout_s), UTCDateTime())
    found = db_session.execute(
        update(AccountPassword)
        .where(
            AccountPassword.token_id == token_id,
            or_(AccountPassword.locked_until.is_(None), AccountPassword.locked_until <= now),
        )
        .values(
            failed_attempts=count,
            last_attempt_at=now,
            locked_until=case((count >= settings.login_max_failures, lock_at), else_=None),
        )
        .returning(AccountPassword.failed_attempts, AccountPassword.password_hash)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return None if found is None else (found[0], found[1])


def sign_in(
    *, db_session: Session, account: str, password: str, settings: Settings, clock: Clock
) -> ApiToken:
    """The account's token when ``password`` is right and the account not locked; else an
    ``AuthenticationError`` (``SIGN_IN_FAILED``).

    Commits the attempt's count before the (slow) check, so the count holds across
    processes and threads and no write transaction stays open during the check; the caller
    commits what follows (the reset after a right password)."""
    token = db_session.scalar(
        select(ApiToken).where(ApiToken.name == account, ApiToken.revoked_at.is_(None))
    )
    counted = None
    if token is not None:
        counted = _count_attempt(
            db_session=db_session, token_id=token.id, settings=settings, clock=clock
        )
    db_session.commit()
    right = _verify(counted[1] if counted is not None else _dummy_hash(), password)
    if token is None or counted is None:
        raise AuthenticationError(SIGN_IN_FAILED)
    attempt, password_hash = counted
    if not right:
        if attempt >= settings.login_max_failures:
            logger.warning(
                "account %r: %d wrong passwords in a row, password sign-in locked for %d s",
                account,
                settings.login_max_failures,
                settings.login_lockout_s,
            )
        raise AuthenticationError(SIGN_IN_FAILED)
    values: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
    if _hasher.check_needs_rehash(password_hash):
        values["password_hash"] = _hasher.hash(password)
    db_session.execute(
        update(AccountPassword)
        .where(AccountPassword.token_id == token.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return token
