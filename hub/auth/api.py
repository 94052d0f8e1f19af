"""API tokens: who am I, create (shown once), list, revoke. Admins only, within their scope."""

from __future__ import annotations

from fastapi import APIRouter

from hub.auth import service
from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.schemas import Me, TokenCreate, TokenCreated, TokenRead
from hub.bounds import RowId
from hub.deps import ClockDep, SessionDep

router = APIRouter(prefix="/api", tags=["auth"])


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role, scope_code=user.scope_code, unit_id=user.unit_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    body: TokenCreate, db_session: SessionDep, user: AdminUser, clock: ClockDep
) -> TokenCreated:
    row, plaintext = service.create_token_for(
        db_session=db_session,
        admin=user,
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
    rows = service.list_tokens(db_session=db_session, scope_code=user.scope_code)
    return [TokenRead.model_validate(t) for t in rows]


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(
    token_id: RowId, db_session: SessionDep, user: AdminUser, clock: ClockDep
) -> TokenRead:
    row = service.revoke_token(db_session=db_session, token_id=token_id, by=user, at=clock.now())
    db_session.commit()
    return TokenRead.model_validate(row)
