"""API tokens: who am I, create (shown once), list, revoke. Admins only, within their scope."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import AdminUser, ClockDep, CurrentUser, SessionDep
from hub.auth import service
from hub.auth.models import ApiToken, Role
from hub.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/api", tags=["auth"])


class Me(BaseModel):
    name: str
    role: Role
    scope_code: str | None
    unit_id: int | None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    role: Role
    scope_code: str | None = Field(default=None, pattern=r"^(\d{6}|\d{9}|\d{12})$")
    unit_id: int | None = None


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


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role, scope_code=user.scope_code, unit_id=user.unit_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    body: TokenCreate, db_session: SessionDep, user: AdminUser, clock: ClockDep
) -> TokenCreated:
    if user.scope_code is not None and not user.covers(body.scope_code):
        raise PermissionDeniedError("a scoped admin can only create tokens inside its area")
    row, plaintext = service.create_token(
        db_session=db_session,
        name=body.name,
        role=body.role,
        scope_code=body.scope_code,
        unit_id=body.unit_id,
        clock=clock,
    )
    db_session.commit()
    return TokenCreated(**TokenRead.model_validate(row).model_dump(), token=plaintext)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(db_session: SessionDep, user: AdminUser) -> list[TokenRead]:
    query = select(ApiToken).order_by(ApiToken.id)
    if user.scope_code is not None:
        query = query.where(ApiToken.scope_code.startswith(user.scope_code, autoescape=True))
    return [TokenRead.model_validate(t) for t in db_session.scalars(query)]


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(
    token_id: int, db_session: SessionDep, user: AdminUser, clock: ClockDep
) -> TokenRead:
    row = db_session.get(ApiToken, token_id)
    if row is None or not user.covers(row.scope_code) and user.scope_code is not None:
        raise NotFoundError(f"token {token_id} not found")
    service.revoke_token(db_session=db_session, token_id=token_id, at=clock.now())
    db_session.commit()
    return TokenRead.model_validate(row)
