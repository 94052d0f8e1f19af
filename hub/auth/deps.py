"""Who is calling: the ``CurrentUser`` and ``AdminUser`` dependencies.

A caller is a bearer API token (``Authorization: Bearer <token>``) or a console session (the
session cookie, ``hub.auth.sessions``); both give the same ``Principal`` (role, area scope,
unit), so every route takes either. A bearer header wins over a cookie. A cookie request whose
method changes state (anything but GET, HEAD, OPTIONS) needs the session's CSRF token in the
``X-CSRF-Token`` header, else 403.

Role checks inside an endpoint use ``hub.auth.service.require_roles``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from hub.auth.models import Role
from hub.auth.service import Principal, authenticate, require_roles
from hub.auth.sessions import csrf_matches, session_principal
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import AuthenticationError, PermissionDeniedError
from hub.settings import Settings

COOKIE = "gridlink_session"
SECURE_COOKIE = "__Host-gridlink_session"  # with Secure: only this origin may set it
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")
_cookie = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    description=f"console session (`POST /api/session`; `{SECURE_COOKIE}` when the hub is "
    f"served over HTTPS); state changes also need the `{CSRF_HEADER}` header",
)


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if settings.https else COOKIE


def session_secret(request: Request, settings: Settings) -> str | None:
    """The session cookie's value on ``request`` (the one name ``settings`` uses)."""
    return request.cookies.get(cookie_name(settings)) or None


def get_current_user(
    request: Request,
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _documented: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    secret = session_secret(request, settings)
    if credentials is None and secret is not None:
        try:
            principal = session_principal(
                db_session=db_session, secret=secret, settings=settings, clock=clock
            )
        except AuthenticationError:
            db_session.commit()  # an expired session is marked ended
            raise
        if request.method not in SAFE_METHODS and not csrf_matches(
            secret, request.headers.get(CSRF_HEADER)
        ):
            raise PermissionDeniedError(
                f"missing or wrong {CSRF_HEADER} header (a signed-in console request that "
                "changes something must carry the session's CSRF token)"
            )
    else:
        token = credentials.credentials if credentials is not None else None
        principal = authenticate(db_session=db_session, token=token, settings=settings, clock=clock)
    if db_session.dirty:
        db_session.commit()  # last_used_at / last_seen_at
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_admin(principal: CurrentUser) -> Principal:
    require_roles(principal, Role.admin)
    return principal


AdminUser = Annotated[Principal, Depends(require_admin)]
