"""API schemas of personal data protection: grants, what a reader sees, audit rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.bounds import Instant, RowId

# Why a reader needs the data: required for identity fields and exports, kept in the audit.
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=500)]


class GrantPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: bool = False
    auditor: bool = False
    reason: Purpose
    expires_at: Instant | None = None


class GrantWithdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Purpose


class GrantRead(BaseModel):
    token_id: RowId
    account: str
    role: str
    scope_code: str | None
    identity: bool
    auditor: bool
    reason: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime | None


class FieldsRead(BaseModel):
    """What the caller sees of each kind of record (with a purpose, and without one)."""

    identity_grant: bool
    auditor_grant: bool
    visible: dict[str, list[str]] = Field(description="personal fields shown, per kind")
    withheld: dict[str, list[str]] = Field(description="fields withheld, per kind")


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    token_id: int | None
    role: str
    scope_code: str | None
    action: str
    kind: str
    record_ids: list[int]
    count: int
    fields: list[str]
    withheld: list[str]
    purpose: str | None
    query: dict[str, Any]
