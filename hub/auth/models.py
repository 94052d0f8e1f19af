"""API tokens (stored as SHA-256 hashes) with a role and an area scope; account passwords
(argon2id) and console sessions that act as an account's token."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime

LIVE_NAME_INDEX = "uq_api_tokens_live_name"


class Role(StrEnum):
    admin = "admin"  # everything, everywhere (scope may still narrow it)
    operator = "operator"  # command-centre operator of a community / street / district / city
    unit = "unit"  # a handling unit: sees and works on the cases assigned to it


class ApiToken(Base):
    """A token; its ``name`` is its account's name, so at most one live token has a name."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index(
            LIVE_NAME_INDEX,
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, for display only
    role: Mapped[str] = mapped_column(String(16))
    # Area code (4 city / 6 district / 9 street / 12 community digits); NULL = whole system
    # (admin only).
    scope_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), default=None)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AccountPassword(Base):
    """An account's console password (argon2id hash only) and its failed sign-ins.

    The password belongs to one token (``token_id``): the live token named like the account,
    whose role and scope a password session gets (``hub.auth.passwords``). The row goes when
    the token is revoked (``hub.auth.service.revoke_token``) or deleted, so a later token with
    the same name starts without a password.
    """

    __tablename__ = "account_passwords"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(160))
    # attempts in the current run (counted before each check; a right one resets it)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds a random secret, the table only its SHA-256.

    The session acts as its API token (role, scope, unit); revoking the token ends it too.
    """

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account: Mapped[str] = mapped_column(String(120), index=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))  # "password" or "token"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
