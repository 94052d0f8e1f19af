"""Auth over HTTP: who am I; API tokens (create, shown once; list; revoke; admins only, within
their scope); console sign-in and sign-out; account passwords and sessions (admins).

Every body here is small, and ``POST /api/session`` takes one from anybody: a body over
``MAX_BODY_BYTES`` is 413 before any of it is parsed (``SmallBodyRoute``). At most
``login_concurrent_checks`` password checks run at once; one more is 429 (``BusyError``)."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from hub.auth import passwords, service, sessions
from hub.auth.deps import CSRF_HEADER, AdminUser, CurrentUser, cookie_name, session_secret
from hub.auth.models import ApiToken, ConsoleSession
from hub.auth.schemas import (
    Me,
    NoNul,
    PasswordSet,
    SessionRead,
    SessionsEnded,
    SignIn,
    TokenCreate,
    TokenCreated,
    TokenRead,
)
from hub.auth.service import Principal
from hub.body_limit import limited_route
from hub.bounds import RowId
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import AuthenticationError, BusyError, PermissionDeniedError
from hub.settings import Settings

MAX_BODY_BYTES = 4096


SmallBodyRoute = limited_route(MAX_BODY_BYTES)


router = APIRouter(prefix="/api", tags=["auth"], route_class=SmallBodyRoute)


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


# --- console sign-in (hub.auth.sessions, hub.auth.passwords) ---------------------------------

FAILED: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in: one message whatever the reason"}
}
SIGN_IN_ANSWERS: dict[int | str, dict[str, object]] = {
    **FAILED,
    413: {"description": f"a body over {MAX_BODY_BYTES} bytes"},
    429: {"description": "too many password checks at once: retry after `Retry-After` s"},
}
BUSY = "too many sign-ins at once: try again in a moment"
_slots_made = threading.Lock()


def check_slots(request: Request, settings: SettingsDep) -> threading.BoundedSemaphore:
    """The app's ``login_concurrent_checks`` slots for password checks (made at first use)."""
    with _slots_made:
        slots: threading.BoundedSemaphore | None = getattr(
            request.app.state, "password_check_slots", None
        )
        if slots is None:
            slots = threading.BoundedSemaphore(settings.login_concurrent_checks)
            request.app.state.password_check_slots = slots
    return slots


CheckSlots = Annotated[threading.BoundedSemaphore, Depends(check_slots)]


def _session_read(
    row: ConsoleSession, principal: Principal, csrf: str, settings: Settings
) -> SessionRead:
    return SessionRead(
        account=row.account,
        role=principal.role,
        scope_code=principal.scope_code,
        unit_id=principal.unit_id,
        method=row.method,
        created_at=row.created_at,
        expires_at=row.expires_at,
        idle_timeout_s=settings.session_idle_timeout_s,
        csrf_token=csrf,
    )


def _clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings), path="/", secure=settings.https, httponly=True, samesite="strict"
    )


@router.post("/session", response_model=SessionRead, status_code=201, responses=SIGN_IN_ANSWERS)
def sign_in(
    body: SignIn,
    request: Request,
    response: Response,
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    slots: CheckSlots,
) -> SessionRead:
    """Sign in (account + password, or an API token): opens a session, sets its HttpOnly,
    SameSite=Strict cookie and answers the session with its CSRF token. 429 when
    ``login_concurrent_checks`` password checks are already running (nothing is counted)."""
    if body.token is not None:
        principal = service.authenticate(
            db_session=db_session, token=body.token, settings=settings, clock=clock
        )
        if principal.token_id is None:
            raise AuthenticationError(
                "the bootstrap admin token opens no console session: sign in with an account"
            )
        token = db_session.get(ApiToken, principal.token_id)
        method = "token"
    else:
        assert body.account is not None and body.password is not None
        if not slots.acquire(blocking=False):
            raise BusyError(BUSY)
        try:
            token = passwords.sign_in(
                db_session=db_session,
                account=body.account,
                password=body.password,
                settings=settings,
                clock=clock,
            )
        finally:
            slots.release()
        method = "password"
    assert token is not None
    old = session_secret(request, settings)
    if old is not None:  # a browser signing in again: its previous session ends
        previous = sessions.session_of(
            db_session=db_session, secret=old, settings=settings, clock=clock
        )
        if previous is not None:
            sessions.end_session(db_session=db_session, session_id=previous.id, at=clock.now())
    opened = sessions.open_session(
        db_session=db_session, token=token, method=method, settings=settings, clock=clock
    )
    db_session.commit()
    response.set_cookie(
        cookie_name(settings),
        opened.secret,
        max_age=settings.session_max_age_s,
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="strict",
    )
    principal = sessions.session_principal(
        db_session=db_session, secret=opened.secret, settings=settings, clock=clock
    )
    return _session_read(opened.row, principal, opened.csrf_token, settings)


@router.get("/session", response_model=SessionRead, responses=FAILED)
def current_session(
    request: Request, db_session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> SessionRead:
    """The signed-in session of this browser: 401 when the cookie holds no live session, 403
    for a bearer token (it has no session)."""
    secret = session_secret(request, settings)
    if user.session_id is None or secret is None:  # a bearer token: authenticated, no session
        raise PermissionDeniedError("this request carries an API token, not a console session")
    row = db_session.get(ConsoleSession, user.session_id)
    assert row is not None
    return _session_read(row, user, sessions.csrf_token(secret), settings)


@router.delete(
    "/session", status_code=204, responses={403: {"description": "missing or wrong CSRF header"}}
)
def sign_out(
    request: Request, db_session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """Sign out: the session ends on the hub and its cookie is cleared. Needs the CSRF header
    while the session is live; without a live session it only clears the cookie."""
    response = Response(status_code=204)
    secret = session_secret(request, settings)
    if secret is not None:
        row = sessions.session_of(
            db_session=db_session, secret=secret, settings=settings, clock=clock
        )
        if row is not None:
            if not sessions.csrf_matches(secret, request.headers.get(CSRF_HEADER)):
                raise PermissionDeniedError(f"missing or wrong {CSRF_HEADER} header")
            sessions.end_session(db_session=db_session, session_id=row.id, at=clock.now())
        db_session.commit()
    _clear_cookie(response, settings)
    return response


AccountName = Annotated[str, Path(min_length=1, max_length=120), NoNul]


@router.put("/accounts/{account}/password", status_code=204)
def set_password(
    account: AccountName,
    body: PasswordSet,
    db_session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: AdminUser,
) -> Response:
    """Set an account's console password (admins, inside their area). Lifts a sign-in lock
    and ends the account's open sessions."""
    passwords.set_password(
        db_session=db_session,
        account=account,
        password=body.password,
        by=user.actor,
        scope_code=user.scope_code,
        settings=settings,
        clock=clock,
    )
    db_session.commit()
    return Response(status_code=204)


@router.delete("/accounts/{account}/sessions", response_model=SessionsEnded)
def end_sessions(
    account: AccountName, db_session: SessionDep, clock: ClockDep, user: AdminUser
) -> SessionsEnded:
    """End every open console session of an account (admins, inside their area)."""
    passwords.account_in_scope(db_session=db_session, account=account, scope_code=user.scope_code)
    ended = sessions.end_account_sessions(
        db_session=db_session, account=account, at=clock.now(), reason="ended by admin"
    )
    db_session.commit()
    return SessionsEnded(ended=ended)
