"""API schemas of the auth domain: who am I, token create / read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.auth.models import Role
from hub.bounds import RowId


class Me(BaseModel):
    name: str
    role: Role
    scope_code: str | None
    unit_id: int | None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    role: Role
    scope_code: str | None = Field(default=None, pattern=r"^(\d{6}|\d{9}|\d{12})$")
    unit_id: RowId | None = None


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    role: str
    scope_code: str | None
    unit_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="the secret; shown only in this response")
