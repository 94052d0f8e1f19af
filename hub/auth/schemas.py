"""API schemas of the auth domain: who am I, token create / read, sign-in, sessions, passwords."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hub.auth.models import Role
from hub.bounds import RowId


class Me(BaseModel):
    name: str
    role: Role
    scope_code: str | None
    unit_id: int | None


def no_nul(value: str) -> str:
    """PostgreSQL cannot store or compare a NUL in text: such input is 422, not a 500."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


NoNul = AfterValidator(no_nul)


class TokenCreate(BaseModel):
    name: Annotated[str, NoNul] = Field(min_length=1, max_length=120)
    role: Role
    scope_code: str | None = Field(default=None, pattern=r"^(\d{4}|\d{6}|\d{9}|\d{12})$")
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


class SignIn(BaseModel):
    """Console sign-in: ``account`` and ``password``, or an API ``token`` (the demo's link)."""

    account: Annotated[str, NoNul] | None = Field(default=None, min_length=1, max_length=120)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    token: Annotated[str, NoNul] | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_way(self) -> SignIn:
        by_password = self.account is not None or self.password is not None
        if by_password == (self.token is not None):
            raise ValueError("give account and password, or token")
        if by_password and (self.account is None or self.password is None):
            raise ValueError("give both account and password")
        return self


class SessionRead(BaseModel):
    """The signed-in session (its secret is only in the HttpOnly cookie)."""

    account: str
    role: Role
    scope_code: str | None
    unit_id: int | None
    method: str = Field(description="how it was opened: password or token")
    created_at: datetime
    expires_at: datetime
    idle_timeout_s: int
    csrf_token: str = Field(description="send as the X-CSRF-Token header on state changes")


class PasswordSet(BaseModel):
    password: str = Field(min_length=1, max_length=256)


class SessionsEnded(BaseModel):
    ended: int
