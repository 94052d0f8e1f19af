"""FastAPI dependencies as ``Annotated`` aliases: ``SessionDep``, ``CurrentUser``, ``ClockDep``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hub.auth.models import Role
from hub.auth.service import Principal, authenticate
from hub.clock import Clock
from hub.errors import PermissionDeniedError
from hub.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_db_session(request: Request) -> Iterator[Session]:
    """One session per request; endpoints commit explicitly, anything else is rolled back."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[Session, Depends(get_db_session)]

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")


def get_current_user(
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else None
    principal = authenticate(db_session=db_session, token=token, settings=settings, clock=clock)
    if db_session.dirty:
        db_session.commit()  # last_used_at
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_roles(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDeniedError(f"this action needs one of the roles: {allowed}")


def require_admin(principal: CurrentUser) -> Principal:
    require_roles(principal, Role.admin)
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]
