"""API tokens (stored as SHA-256 hashes) with a role and an area scope."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class Role(StrEnum):
    admin = "admin"  # everything, everywhere (scope may still narrow it)
    operator = "operator"  # command-centre operator of a community / street / district
    unit = "unit"  # a handling unit: sees and works on the cases assigned to it


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, for display only
    role: Mapped[str] = mapped_column(String(16))
    # Area code (6 district / 9 street / 12 community digits); NULL = whole system (admin only).
    scope_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), default=None)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
