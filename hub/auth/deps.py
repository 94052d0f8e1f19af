"""Who is calling: the ``CurrentUser`` and ``AdminUser`` dependencies (bearer API tokens).

Role checks inside an endpoint use ``hub.auth.service.require_roles``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.auth.models import Role
from hub.auth.service import Principal, authenticate, require_roles
from hub.deps import ClockDep, SessionDep, SettingsDep

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


def require_admin(principal: CurrentUser) -> Principal:
    require_roles(principal, Role.admin)
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]
