"""Tasks and notices to the field: reference images uploaded for a task, tasks sent to a
grid's handheld (and cancelled), their state and the worker's answer; notices broadcast to
an area's handhelds. Admins and operators, inside their area; a unit reads the tasks of its
cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import ColumnElement, select, true
from starlette.concurrency import run_in_threadpool

from hub.areas.models import Grid
from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.bounds import PageOffset, RowId
from hub.cases import field_tasks
from hub.cases.models import Broadcast, Case, FieldTask
from hub.cases.queries import get_case
from hub.cases.schemas import (
    BlobRef,
    BroadcastCreate,
    BroadcastDelivery,
    BroadcastRead,
    TaskCreate,
    TaskRead,
)
from hub.cases.scope import scope_clause
from hub.commands.models import Command
from hub.deps import ClockDep, SessionDep
from hub.errors import InvalidInputError, NotFoundError, PermissionDeniedError, TooLargeError
from hub.media.deps import MediaStoreDep
from hub.media.uploads import MAX_UPLOAD_BYTES, store_upload

router = APIRouter(prefix="/api", tags=["field tasks"])


def _in_scope(user: Principal, code: str) -> None:
    require_roles(user, Role.admin, Role.operator)
    if not user.covers(code):
        raise NotFoundError(f"{code} not found")


@router.post("/tasks/images", response_model=BlobRef, status_code=201)
async def upload_image(
    request: Request,
    grid_code: Annotated[str, Query(pattern=r"^\d{14}$")],
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    store: MediaStoreDep,
) -> BlobRef:
    """A reference image for a task in ``grid_code``: the raw JPEG or PNG as the body, its
    type in Content-Type (at most 512 KiB)."""
    _in_scope(user, grid_code)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise TooLargeError(f"a reference image is at most {MAX_UPLOAD_BYTES} bytes")
    data = b""
    async for part in request.stream():
        data += part
        if len(data) > MAX_UPLOAD_BYTES:
            raise TooLargeError(f"a reference image is at most {MAX_UPLOAD_BYTES} bytes")
    mime = (request.headers.get("content-type") or "").split(";")[0].strip().lower()

    def stored() -> BlobRef:  # database and file writes: off the event loop
        if db_session.get(Grid, grid_code) is None:
            raise NotFoundError(f"grid {grid_code} not found")
        blob = store_upload(db_session=db_session, store=store, data=data, mime=mime,
                            grid_code=grid_code, at=clock.now())  # fmt: skip
        db_session.commit()
        return BlobRef(sha256=blob.sha256, size=blob.size, mime=blob.mime)

    return await run_in_threadpool(stored)


@router.post("/tasks", response_model=TaskRead, status_code=201)
def create_task(body: TaskCreate, db_session: SessionDep, user: CurrentUser,
                clock: ClockDep) -> TaskRead:  # fmt: skip
    """Send a task to the grid's active handheld as a signed command; its reference images are
    fetched by the handheld and checked by SHA-256."""
    case = None
    if body.case_id is not None:
        case = get_case(db_session=db_session, case_id=body.case_id, principal=user)
    grid = body.grid_code or (case.grid_code if case is not None else None)
    if grid is None:
        raise InvalidInputError("name the grid (grid_code) or the case (case_id) of the task")
    _in_scope(user, grid)
    task = field_tasks.create_task(
        db_session=db_session, grid_code=grid, title=body.title, text=body.text,
        actor=user.actor, clock=clock, case=case,
        loc={"lat_e6": body.loc.lat_e6, "lon_e6": body.loc.lon_e6} if body.loc else None,
        deadline_at=body.deadline_at, images=[i.lower() for i in body.images],
    )  # fmt: skip
    db_session.commit()
    return TaskRead.model_validate(task)


def _visible(user: Principal) -> ColumnElement[bool]:
    """Tasks on grids inside the caller's area; a unit's: those of cases it may see."""
    if user.role == Role.unit:
        return FieldTask.case_id.in_(select(Case.id).where(scope_clause(user)))
    if user.scope_code is None:
        return true()
    return FieldTask.grid_code.startswith(user.scope_code, autoescape=True)


@router.get("/tasks", response_model=list[TaskRead])
def list_tasks(
    db_session: SessionDep,
    user: CurrentUser,
    case_id: RowId | None = None,
    grid_code: Annotated[str | None, Query(pattern=r"^\d{14}$")] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: PageOffset = 0,
) -> list[TaskRead]:
    query = select(FieldTask).where(_visible(user))
    if case_id is not None:
        query = query.where(FieldTask.case_id == case_id)
    if grid_code is not None:
        query = query.where(FieldTask.grid_code == grid_code)
    if status is not None:
        query = query.where(FieldTask.status == status)
    rows = db_session.scalars(query.order_by(FieldTask.id.desc()).limit(limit).offset(offset))
    return [TaskRead.model_validate(r) for r in rows]


def _task(db_session: SessionDep, user: Principal, task_id: str) -> FieldTask:
    task = db_session.scalar(select(FieldTask).where(FieldTask.task_id == task_id, _visible(user)))
    if task is None:
        raise NotFoundError(f"task {task_id} not found")
    return task


@router.get("/tasks/{task_id}", response_model=TaskRead)
def get_task(
    task_id: Annotated[str, Path(max_length=32)], db_session: SessionDep, user: CurrentUser
) -> TaskRead:
    return TaskRead.model_validate(_task(db_session, user, task_id))


@router.post("/tasks/{task_id}/cancel", response_model=TaskRead)
def cancel_task(
    task_id: Annotated[str, Path(max_length=32)],
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> TaskRead:
    task = _task(db_session, user, task_id)
    require_roles(user, Role.admin, Role.operator)
    field_tasks.cancel_task(db_session=db_session, task=task, at=clock.now())
    db_session.commit()
    return TaskRead.model_validate(task)


def _broadcast_read(db_session: SessionDep, row: Broadcast) -> BroadcastRead:
    ids = [c["command_id"] for c in row.commands]
    found = db_session.execute(select(Command.id, Command.status).where(Command.id.in_(ids)))
    status = {command_id: state for command_id, state in found}
    return BroadcastRead(
        id=row.id, area_code=row.area_code, title=row.title, text=row.text,
        created_by=row.created_by, created_at=row.created_at,
        deliveries=[BroadcastDelivery(device_id=c["device_id"], command_id=c["command_id"],
                                      status=status.get(c["command_id"], "unknown"))
                    for c in row.commands],
    )  # fmt: skip


@router.post("/broadcasts", response_model=BroadcastRead, status_code=201)
def create_broadcast(body: BroadcastCreate, db_session: SessionDep, user: CurrentUser,
                     clock: ClockDep) -> BroadcastRead:  # fmt: skip
    """A notice to every active handheld of an area (district, street, community or grid)."""
    if not user.covers(body.area_code):
        raise PermissionDeniedError(f"{body.area_code} is outside your area")
    require_roles(user, Role.admin, Role.operator)
    row = field_tasks.broadcast(db_session=db_session, area_code=body.area_code,
                                title=body.title, text=body.text, actor=user.actor,
                                clock=clock, lifetime_s=body.lifetime_s)  # fmt: skip
    db_session.commit()
    return _broadcast_read(db_session, row)


@router.get("/broadcasts", response_model=list[BroadcastRead])
def list_broadcasts(
    db_session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: PageOffset = 0,
) -> list[BroadcastRead]:
    require_roles(user, Role.admin, Role.operator)
    query = select(Broadcast)
    if user.scope_code is not None:
        query = query.where(Broadcast.area_code.startswith(user.scope_code, autoescape=True))
    rows = db_session.scalars(query.order_by(Broadcast.id.desc()).limit(limit).offset(offset))
    return [_broadcast_read(db_session, r) for r in rows]
