"""Workers' PINs and sign-in sessions (read and set scoped to the caller's area)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from hub.areas import service as areas
from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.bounds import PageOffset
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.devices.models import Device
from hub.events.models import Event
from hub.workers import pins
from hub.workers.models import SigninFailure, WorkerCheck, WorkerSession
from hub.workers.schemas import CheckRead, PinRead, PinSet, SessionRead, SigninFailureRead

router = APIRouter(prefix="/api", tags=["workers"])

Limit = Annotated[int, Query(ge=1, le=500)]
Ts = Annotated[int | None, Query(ge=0, le=2**40)]
Status = Literal["signed_in", "not_signed_in", "not_on_grid", "anonymous"]


@router.put("/workers/{worker_id}/pin", response_model=PinRead)
def set_pin(
    worker_id: str,
    body: PinSet,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> PinRead:
    """Set a worker's PIN (admin, or an operator whose area holds one of the worker's grids).
    The grid's handhelds get the new list within seconds while online."""
    require_roles(user, Role.admin, Role.operator)
    areas.get_visible_worker(db_session=db_session, worker_id=worker_id, scope_code=user.scope_code)
    row = pins.set_pin(db_session=db_session, worker_id=worker_id, pin=body.pin,
                       iterations=settings.worker_pin_iterations, clock=clock,
                       by=user.actor)  # fmt: skip
    db_session.commit()
    return PinRead(worker_id=worker_id, set_at=row.set_at, set_by=row.set_by,
                   iterations=row.iterations)  # fmt: skip


@router.delete("/workers/{worker_id}/pin", status_code=204)
def clear_pin(worker_id: str, db_session: SessionDep, user: CurrentUser) -> Response:
    """Remove a worker's PIN: the worker can sign in nowhere until a new one is set."""
    require_roles(user, Role.admin, Role.operator)
    areas.get_visible_worker(db_session=db_session, worker_id=worker_id, scope_code=user.scope_code)
    pins.clear_pin(db_session=db_session, worker_id=worker_id)
    db_session.commit()
    return Response(status_code=204)


@router.get("/workers/{worker_id}/sessions", response_model=list[SessionRead])
def list_sessions(
    worker_id: str,
    db_session: SessionDep,
    user: CurrentUser,
    since: Ts = None,
    until: Ts = None,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> list[SessionRead]:
    """The worker's sign-in sessions, newest first (``since`` / ``until``: Unix seconds)."""
    require_roles(user, Role.admin, Role.operator)
    areas.get_visible_worker(db_session=db_session, worker_id=worker_id, scope_code=user.scope_code)
    query = select(WorkerSession).where(WorkerSession.worker_id == worker_id)
    if user.scope_code is not None:
        query = query.where(WorkerSession.grid_code.startswith(user.scope_code, autoescape=True))
    if since is not None:
        query = query.where((WorkerSession.ended_ts.is_(None)) | (WorkerSession.ended_ts >= since))
    if until is not None:
        query = query.where(WorkerSession.started_ts < until)
    rows = db_session.scalars(
        query.order_by(WorkerSession.started_ts.desc(), WorkerSession.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [SessionRead.model_validate(r) for r in rows]


@router.get("/workers/{worker_id}/signin-failures", response_model=list[SigninFailureRead])
def list_failures(
    worker_id: str,
    db_session: SessionDep,
    user: CurrentUser,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> list[SigninFailureRead]:
    """Wrong PINs typed for this worker id on handhelds of the caller's area, newest first."""
    require_roles(user, Role.admin, Role.operator)
    areas.get_visible_worker(db_session=db_session, worker_id=worker_id, scope_code=user.scope_code)
    query = select(SigninFailure).where(SigninFailure.worker_id == worker_id)
    if user.scope_code is not None:
        query = query.join(Device, Device.id == SigninFailure.device_id).where(
            Device.grid_code.startswith(user.scope_code, autoescape=True)
        )
    rows = db_session.scalars(
        query.order_by(SigninFailure.ts.desc(), SigninFailure.id.desc()).offset(offset).limit(limit)
    )
    return [SigninFailureRead.model_validate(r) for r in rows]


@router.get("/worker-checks", response_model=list[CheckRead])
def list_checks(
    db_session: SessionDep,
    user: CurrentUser,
    status: Annotated[list[Status] | None, Query()] = None,
    worker_id: Annotated[str | None, Query(max_length=64)] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: PageOffset = 0,
    limit: Limit = 100,
) -> list[CheckRead]:
    """Events that name a worker, with whether that worker was signed in on the device
    (``status=not_signed_in&status=not_on_grid``: the flagged ones), newest first."""
    require_roles(user, Role.admin, Role.operator)
    query = select(WorkerCheck, Event.grid_code, Event.ts).join(
        Event, Event.id == WorkerCheck.event_id
    )
    if user.scope_code is not None:
        query = query.where(Event.grid_code.startswith(user.scope_code, autoescape=True))
    if status:
        query = query.where(WorkerCheck.status.in_(status))
    if worker_id is not None:
        query = query.where(WorkerCheck.worker_id == worker_id)
    if device_id is not None:
        query = query.where(WorkerCheck.device_id == device_id)
    rows = db_session.execute(
        query.order_by(Event.ts.desc(), WorkerCheck.event_id.desc()).offset(offset).limit(limit)
    ).all()
    return [
        CheckRead(
            event_id=c.event_id,
            device_id=c.device_id,
            seq=c.seq,
            kind=c.kind,
            worker_id=c.worker_id,
            status=c.status,
            grid_code=grid,
            ts=ts,
        )  # fmt: skip
        for c, grid, ts in rows
    ]
