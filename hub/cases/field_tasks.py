"""Tasks and notices to the field (下发任务 / 通知): a task for a grid's handheld (text,
location, reference images, deadline) as a signed ``task`` command, the handheld's ack and the
worker's steps (``task`` events: accept, progress, close with its answer) back, the answer
linked to the task's case; notices broadcast to every active handheld of an area.

Reference images are blobs the hub holds (an operator's upload, or a case's photo); the
handheld fetches each by SHA-256 over the firmware channel (``hub.ota.serving`` serves the
images of the device's open tasks) and checks it, so a command stays small. Flushes only."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Grid
from hub.cases import actions
from hub.cases.intake import new_case
from hub.cases.models import Broadcast, Case, CaseStatus, FieldTask, TaskStatus
from hub.cases.verification import active_handheld_id
from hub.cases.workflow import Action, record
from hub.clock import Clock, from_unix
from hub.commands.models import Command, CommandStatus
from hub.commands.service import MAX_LIFETIME_S, enqueue
from hub.devices.models import Device
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.media.models import BlobStatus
from hub.media.service import add_refs, visible_blob
from hub.media.uploads import IMAGE_MIMES, MAX_UPLOAD_BYTES
from hub.settings import Settings

logger = logging.getLogger(__name__)

TASK_TEXT_CHARS = 1000  # what the worker's screen shows; a command stays under 16 KiB
MAX_IMAGES = 4
DEFAULT_LIFETIME_S = 7 * 24 * 3600
OPEN_TASKS = (TaskStatus.sent.value, TaskStatus.delivered.value, TaskStatus.accepted.value)


def _images(db_session: Session, shas: list[str], grid_code: str) -> list[dict[str, Any]]:
    """The reference images: blobs already used in the task's own grid (uploaded for it, or a
    photo of one of its cases), never another grid's: naming a hash must not hand a photo of
    elsewhere to this grid's handheld (or, through the grid's reference, to its operators)."""
    if len(shas) > MAX_IMAGES:
        raise InvalidInputError(f"a task carries at most {MAX_IMAGES} reference images")
    out = []
    for sha in dict.fromkeys(shas):
        blob = visible_blob(db_session=db_session, sha256=sha, scope_code=grid_code)
        if blob is None or blob.status != BlobStatus.complete:
            raise InvalidInputError(
                f"image {sha} is not held complete in grid {grid_code}", code="blob_not_found"
            )
        if blob.mime not in IMAGE_MIMES or blob.size > MAX_UPLOAD_BYTES:
            raise InvalidInputError(
                f"image {sha} is {blob.mime}, {blob.size} bytes: a reference image is a JPEG "
                f"or PNG of at most {MAX_UPLOAD_BYTES} bytes"
            )
        out.append({"sha256": sha, "size": blob.size, "mime": blob.mime})
    return out


def create_task(
    *,
    db_session: Session,
    grid_code: str,
    title: str,
    text: str,
    actor: str,
    clock: Clock,
    case: Case | None = None,
    loc: dict[str, int] | None = None,
    deadline_at: datetime | None = None,
    images: list[str] | None = None,
) -> FieldTask:
    """Send a task to the active handheld of ``grid_code`` (of ``case``'s grid when given)."""
    now = clock.now()
    if db_session.get(Grid, grid_code) is None:
        raise NotFoundError(f"grid {grid_code} not found")
    if case is not None and case.grid_code != grid_code:
        raise InvalidInputError(f"case {case.id} is in grid {case.grid_code}, not {grid_code}")
    if deadline_at is not None and deadline_at <= now:
        raise InvalidInputError("a task's deadline must be in the future")
    device_id = active_handheld_id(db_session=db_session, grid_code=grid_code)
    if device_id is None:
        raise ConflictError(f"no active handheld is bound to grid {grid_code}", code="no_device")
    refs = _images(db_session, list(images or []), grid_code)
    if loc is None and case is not None and case.lat_e6 is not None and case.lon_e6 is not None:
        loc = {"lat_e6": case.lat_e6, "lon_e6": case.lon_e6}
    task = FieldTask(
        task_id="ft-pending",
        case_id=case.id if case is not None else None,
        grid_code=grid_code,
        device_id=device_id,
        title=title,
        text=text,
        lat_e6=loc["lat_e6"] if loc else None,
        lon_e6=loc["lon_e6"] if loc else None,
        deadline_at=deadline_at,
        images=refs,
        status=TaskStatus.sent.value,
        created_by=actor,
        created_at=now,
        seen_images=[],
        answer_media=[],
    )
    db_session.add(task)
    db_session.flush()
    task.task_id = f"ft-{task.id}"
    lifetime = DEFAULT_LIFETIME_S
    if deadline_at is not None:
        lifetime = max(600, min(MAX_LIFETIME_S, int((deadline_at - now).total_seconds())))
    command = enqueue(
        db_session=db_session,
        device_id=device_id,
        op="task",
        args=task_args(task),
        lifetime_s=lifetime,
        clock=clock,
        created_by=actor,
    )
    task.command_id = command.id
    add_refs(db_session=db_session, shas=[r["sha256"] for r in refs], grid_code=grid_code,
             at=now)  # fmt: skip
    if case is not None:
        record(db_session=db_session, case=case, action=Action.task_sent, actor=actor, at=now,
               reason=title, evidence={"task_id": task.task_id, "device_id": device_id,
                                       "images": refs})  # fmt: skip
    db_session.flush()
    return task


def task_args(task: FieldTask) -> dict[str, Any]:
    text = task.text if len(task.text) <= TASK_TEXT_CHARS else task.text[: TASK_TEXT_CHARS - 1]
    return {
        "task_id": task.task_id,
        "case_id": task.case_id,
        "title": task.title,
        "text": text,
        "loc": {"lat_e6": task.lat_e6, "lon_e6": task.lon_e6}
        if task.lat_e6 is not None and task.lon_e6 is not None
        else None,
        "deadline": int(task.deadline_at.timestamp()) if task.deadline_at else None,
        "images": task.images,
    }


def cancel_task(*, db_session: Session, task: FieldTask, at: datetime) -> None:
    if task.status not in OPEN_TASKS:
        raise ConflictError(f"task {task.task_id} is {task.status}")
    task.status = TaskStatus.cancelled.value
    command = db_session.get(Command, task.command_id) if task.command_id else None
    if command is not None and command.status == CommandStatus.queued.value:  # not sent yet
        command.status, command.detail = CommandStatus.failed.value, "task cancelled"
    db_session.flush()


def get_task(*, db_session: Session, task_id: str) -> FieldTask:
    task = db_session.scalar(select(FieldTask).where(FieldTask.task_id == task_id))
    if task is None:
        raise NotFoundError(f"task {task_id} not found")
    return task


def offered_images(*, db_session: Session, device_id: str) -> set[str]:
    """The reference images of the device's open tasks whose command reached it (what the
    firmware channel serves it besides firmware): a task whose command expired, failed or was
    refused before the device had it offers nothing."""
    reached = (CommandStatus.sent.value, CommandStatus.delivered.value,
               CommandStatus.succeeded.value)  # fmt: skip
    rows = db_session.scalars(
        select(FieldTask.images)
        .join(Command, Command.id == FieldTask.command_id)
        .where(
            FieldTask.device_id == device_id,
            FieldTask.status.in_(OPEN_TASKS),
            Command.status.in_(reached),
        )
    )
    return {i["sha256"] for images in rows for i in images or [] if isinstance(i, dict)}


# --- the handheld's side: its ack and the worker's steps --------------------------------------


def on_ack(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """A ``task`` command acked by the handheld: the task is delivered (shown to the worker)."""
    body = event.get("body") or {}
    command = db_session.get(Command, body.get("id")) if isinstance(body.get("id"), str) else None
    if command is None or command.op != "task" or command.device_id != event.get("device_id"):
        return
    task = db_session.scalar(select(FieldTask).where(FieldTask.command_id == command.id))
    if task is not None and task.status == TaskStatus.sent and body.get("status") == "succeeded":
        task.status = TaskStatus.delivered.value
        task.delivered_at = clock.now()


def on_task_event(
    *, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings, **_: Any
) -> FieldTask | None:
    """The worker's step on a task: ``accept`` (with the reference images it verified),
    ``progress``, ``close`` (the answer: text, location, photos), linked to the task's case;
    an answer to a task without a case becomes a new case of source ``task``."""
    body = event.get("body") or {}
    task_id = body.get("task_id")
    task = db_session.scalar(select(FieldTask).where(FieldTask.task_id == task_id)) if (
        isinstance(task_id, str)) else None  # fmt: skip
    if task is None or task.device_id != event.get("device_id"):
        logger.info("task event %s/%s names no task of this device: %r",
                    event.get("device_id"), event.get("seq"), task_id)  # fmt: skip
        return None
    now = clock.now()
    worker = event.get("worker_id") or body.get("worker")
    actor = f"worker:{worker}" if worker else f"device:{task.device_id}"
    step = body.get("step")
    seen = body.get("seen")
    if isinstance(seen, list):
        held = {i["sha256"] for i in task.images}
        task.seen_images = sorted({s for s in seen if isinstance(s, str) and s in held})
    if step == "accept" and task.status in (TaskStatus.sent, TaskStatus.delivered):
        task.status, task.accepted_at, task.accepted_by = TaskStatus.accepted.value, now, actor
        task.delivered_at = task.delivered_at or now
    elif step == "close" and task.done_at is None:
        # a task cancelled after the handheld had it may still be answered: the worker's text
        # and photos are kept (the task stays cancelled), never dropped
        _answer(db_session, task, event, body, actor, now, settings)
    db_session.flush()
    return task


def _answer(db_session: Session, task: FieldTask, event: dict[str, Any], body: dict[str, Any],
            actor: str, now: datetime, settings: Settings) -> None:  # fmt: skip
    media = [b for b in event.get("blobs") or [] if isinstance(b, dict)]
    loc = body.get("loc") if isinstance(body.get("loc"), dict) else None
    text = str(body.get("text") or "")
    if task.status != TaskStatus.cancelled:
        task.status = TaskStatus.done.value
    task.done_at, task.done_by = now, actor
    task.answer_text, task.answer_loc, task.answer_media = text, loc, media
    task.accepted_at = task.accepted_at or now
    case = db_session.get(Case, task.case_id) if task.case_id is not None else None
    if case is None:
        taken = event.get("ts")
        case = new_case(db_session=db_session, source="task", category_code=None,
                        text=f"{task.title}: {text}" if text else task.title,
                        grid_code=task.grid_code,
                        reported_at=from_unix(taken) if isinstance(taken, int) else now,
                        now=now, settings=settings, loc=loc, media=media,
                        reporter_worker_id=event.get("worker_id") or body.get("worker"),
                        device_id=None, event_seq=None)  # fmt: skip
        actions.collect(db_session=db_session, case=case, actor=actor, at=now)
        task.case_id = case.id
        return
    add_refs(db_session=db_session, shas=[str(m.get("sha256")) for m in media],
             grid_code=case.grid_code, at=now)  # fmt: skip
    if case.status == CaseStatus.voided:  # kept on the task row; a voided case takes no step
        logger.info("task %s answered after case %s was voided", task.task_id, case.id)
        return
    evidence = {"task_id": task.task_id, "loc": loc, "media": media,
                "device_id": task.device_id, "seq": event.get("seq")}  # fmt: skip
    record(db_session=db_session, case=case, action=Action.task_answer, actor=actor, at=now,
           reason=text, evidence=evidence)  # fmt: skip


# --- broadcast notices ----------------------------------------------------------------------


def broadcast(
    *,
    db_session: Session,
    area_code: str,
    title: str,
    text: str,
    actor: str,
    clock: Clock,
    lifetime_s: int,
) -> Broadcast:
    """A ``notice`` command to every active handheld bound to a grid inside ``area_code``."""
    now = clock.now()
    devices = list(db_session.scalars(
        select(Device.id).where(Device.kind == "handheld", Device.status == "active",
                                Device.grid_code.startswith(area_code, autoescape=True))
        .order_by(Device.id)))  # fmt: skip
    if not devices:
        raise ConflictError(f"no active handheld in {area_code}", code="no_device")
    row = Broadcast(area_code=area_code, title=title, text=text, created_by=actor,
                    created_at=now, commands=[])  # fmt: skip
    db_session.add(row)
    db_session.flush()
    sent = []
    for device_id in devices:
        command = enqueue(db_session=db_session, device_id=device_id, op="notice",
                          args={"notice_id": f"bn-{row.id}", "title": title,
                                "text": text[:TASK_TEXT_CHARS]},
                          lifetime_s=lifetime_s, clock=clock, created_by=actor)  # fmt: skip
        sent.append({"device_id": device_id, "command_id": command.id})
    row.commands = sent
    db_session.flush()
    return row
