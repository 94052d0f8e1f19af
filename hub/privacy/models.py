"""Grants of a data grade to an account (its API token) and the access-audit records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class DataGrant(Base):
    """What an account may see beyond its role's default (``hub.privacy.policy``).

    ``identity``: the identity fields (ID number, birth date) and every contact field, with a
    stated purpose per read; ``auditor``: the access-audit query. Given by an admin (never to
    itself), with a reason, optionally until ``expires_at``; it goes with its token.
    """

    __tablename__ = "data_grants"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    identity: Mapped[bool] = mapped_column(Boolean, default=False)
    auditor: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(500))
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AccessAudit(Base):
    """One successful read of personal data: who, when, what (kind, record ids, the personal
    fields it returned unmasked), why (the purpose given) and how (the endpoint's action)."""

    __tablename__ = "data_access_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    token_id: Mapped[int | None] = mapped_column(Integer, default=None)
    role: Mapped[str] = mapped_column(String(16))
    scope_code: Mapped[str | None] = mapped_column(String(14), default=None)
    action: Mapped[str] = mapped_column(String(16), index=True)  # list, detail, search, export...
    kind: Mapped[str] = mapped_column(String(16), index=True)  # resident, house, ..., event
    record_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(Integer, default=0)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)  # personal fields shown
    withheld: Mapped[list[str]] = mapped_column(JSON, default=list)  # masked for this reader
    purpose: Mapped[str | None] = mapped_column(String(500), default=None)
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the filters used
