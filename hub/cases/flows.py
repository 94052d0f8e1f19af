"""Orchestration triggered by device events and by feedback: reports become cases,
feedback becomes a verification task on the grid's handheld, the worker's on-site answer
closes or reopens the case.

These functions flush but never commit: the caller owns the transaction (the ingest worker
commits its batch, the API commits per request).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.cases import actions, service
from hub.cases.models import Case, CaseStatus, CaseTransition, VoidReason
from hub.cases.workflow import Action, check, record
from hub.clock import Clock, default_clock, from_unix
from hub.errors import ConflictError, EvidenceError, InvalidInputError, PermissionDeniedError
from hub.settings import Settings, get_settings

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"

VERIFY_TEXT_CHARS = 1000  # what the worker's screen shows of the case in a verify task


def _shorten(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _event_actor(event: dict[str, Any]) -> str:
    worker = event.get("worker_id") or (event.get("body") or {}).get("worker")
    return f"worker:{worker}" if worker else f"device:{event.get('device_id')}"


def on_report(
    *,
    db_session: Session,
    event: dict[str, Any],
    clock: Clock = default_clock,
    settings: Settings | None = None,
) -> Case:
    """Turn a grid worker's ``report`` event into a case (idempotent on device + seq).

    ``event``: ``{device_id, seq, ts, kind, body, blobs, grid_code, worker_id, historical}``,
    body ``{category, text, grid, worker, loc: {lat_e6, lon_e6, acc_m}}``. The case is
    collected, then linked to an earlier case if it is a duplicate, else filed and dispatched
    to the responsible community-level unit when one is known (deadline from the capture time
    for historical events).
    """
    settings = settings or get_settings()
    device_id, seq = event.get("device_id"), event.get("seq")
    existing = db_session.scalar(
        select(Case).where(Case.device_id == device_id, Case.event_seq == seq)
    )
    if existing is not None:
        return existing
    body = event.get("body") or {}
    now = clock.now()
    reported_at = from_unix(event["ts"]) if isinstance(event.get("ts"), int) else now
    historical = bool(event.get("historical"))
    case = service.new_case(
        db_session=db_session,
        source="report",
        category_code=body.get("category"),
        text=str(body.get("text") or ""),
        grid_code=event.get("grid_code") or body.get("grid"),
        reported_at=reported_at,
        now=now,
        loc=body.get("loc") if isinstance(body.get("loc"), dict) else None,
        media=list(event.get("blobs") or []),
        reporter_worker_id=event.get("worker_id") or body.get("worker"),
        device_id=device_id,
        event_seq=seq,
        historical=historical,
    )
    actions.collect(db_session=db_session, case=case, actor=_event_actor(event), at=now)

    first = service.find_duplicate_of(db_session=db_session, case=case, settings=settings)
    if first is not None:
        actions.void(
            db_session=db_session,
            case=case,
            actor=SYSTEM_ACTOR,
            at=now,
            reason=VoidReason.duplicate,
            note=f"same problem as case {first.id}",
            duplicate_of=first,
        )
        db_session.flush()
        logger.info("report %s/%s linked to case %s as duplicate", device_id, seq, first.id)
        return case

    if settings.auto_dispatch_reports and case.category_code and case.grid_code:
        actions.file(
            db_session=db_session,
            case=case,
            actor=SYSTEM_ACTOR,
            at=now,
            reason="grid worker report filed automatically",
        )
        unit = service.route(
            db_session=db_session,
            category_code=case.category_code,
            grid_code=case.grid_code,
            level=case.level,
        )
        if unit is not None:
            actions.dispatch(
                db_session=db_session,
                case=case,
                actor=SYSTEM_ACTOR,
                at=now,
                settings=settings,
                unit_id=unit.id,
                start=reported_at if historical else now,
                reason="routed by category and grid",
            )
    db_session.flush()
    logger.info("report %s/%s -> case %s (%s)", device_id, seq, case.id, case.status)
    return case


def _active_handheld_id(db_session: Session, grid_code: str) -> str | None:
    try:
        from hub.devices.models import Device
    except ImportError:  # devices domain not installed
        return None
    return db_session.scalar(
        select(Device.id).where(
            Device.grid_code == grid_code, Device.kind == "handheld", Device.status == "active"
        )
    )


def request_verification(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    clock: Clock = default_clock,
) -> CaseTransition:
    """Queue a ``verify`` command for the active handheld of the case's grid."""
    check(case, Action.request_verification)
    if case.grid_code is None:
        raise InvalidInputError("the case has no grid to verify in")
    device_id = _active_handheld_id(db_session, case.grid_code)
    if device_id is None:
        raise ConflictError(f"no active handheld is bound to grid {case.grid_code}")
    from hub.commands.service import enqueue  # hub-ingest's domain, imported when needed

    attempt = 1 + (
        db_session.scalar(
            select(func.count(CaseTransition.id)).where(
                CaseTransition.case_id == case.id,
                CaseTransition.action == Action.request_verification.value,
            )
        )
        or 0
    )
    task_id = f"vt-{case.id}-{attempt}"
    loc = (
        {"lat_e6": case.lat_e6, "lon_e6": case.lon_e6, "acc_m": case.acc_m or 0}
        if case.lat_e6 is not None and case.lon_e6 is not None
        else None
    )
    command = enqueue(
        db_session=db_session,
        device_id=device_id,
        op="verify",
        args={
            "case_id": case.id,
            "task_id": task_id,
            "loc": loc,
            # a device report may carry ~30 KB of text; a command must stay under 16 KiB
            "text": _shorten(case.text, VERIFY_TEXT_CHARS),
            "category": case.category_code,
        },
        lifetime_s=settings.verify_window_s,
        clock=clock,
    )
    case.verify_task_id, case.verify_device_id, case.verify_requested_at = task_id, device_id, at
    return record(
        db_session=db_session,
        case=case,
        action=Action.request_verification,
        actor=actor,
        at=at,
        reason=f"verification pushed to {device_id}",
        evidence={
            "task_id": task_id,
            "device_id": device_id,
            "command_id": getattr(command, "id", None),
        },
    )


def submit_feedback(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    text: str,
    blobs: list[dict[str, Any]] | None = None,
    clock: Clock = default_clock,
    settings: Settings | None = None,
) -> Case:
    """The unit's result; then push verification to the grid's handheld when there is one."""
    settings = settings or get_settings()
    now = clock.now()
    actions.feedback(db_session=db_session, case=case, actor=actor, at=now, text=text, blobs=blobs)
    try:
        request_verification(
            db_session=db_session,
            case=case,
            actor=SYSTEM_ACTOR,
            at=now,
            settings=settings,
            clock=clock,
        )
    except (ConflictError, InvalidInputError, ImportError) as exc:
        logger.warning("case %s: verification not pushed yet: %s", case.id, exc)
    db_session.flush()
    return case


def on_verify(
    *,
    db_session: Session,
    event: dict[str, Any],
    clock: Clock = default_clock,
    settings: Settings | None = None,
) -> Case:
    """The grid worker's on-site answer to a verification task (event kind ``verify``).

    ``confirm`` closes the case when the evidence passes the gate (photo, within
    ``verify_distance_m`` of the case, within ``verify_window_s`` of the request); a failing
    gate is recorded as ``verify_refused`` and the case stays in verification. ``reject`` sends
    the case back to handling and counts a rework for the unit. Raises ``NotFoundError``,
    ``ConflictError`` (stale task / wrong state) or ``PermissionDeniedError`` (wrong device).
    """
    settings = settings or get_settings()
    body = event.get("body") or {}
    case_id = body.get("case_id")
    if not isinstance(case_id, int):
        raise InvalidInputError("verify event without an integer case_id")
    case = service.get_case(db_session=db_session, case_id=case_id)
    if case.status != CaseStatus.verifying.value or body.get("task_id") != case.verify_task_id:
        raise ConflictError(
            f"case {case.id} has no open verification task {body.get('task_id')!r}",
            status=case.status,
        )
    if event.get("device_id") != case.verify_device_id:
        raise PermissionDeniedError(
            f"verification for case {case.id} must come from {case.verify_device_id}"
        )
    now = clock.now()
    actor = _event_actor(event)
    loc = body.get("loc") if isinstance(body.get("loc"), dict) else None
    blobs = list(event.get("blobs") or [])
    result = body.get("result")
    if result == "confirm":
        taken_at = from_unix(event["ts"]) if isinstance(event.get("ts"), int) else now
        try:
            actions.close(
                db_session=db_session,
                case=case,
                actor=actor,
                at=now,
                settings=settings,
                taken_at=taken_at,
                loc=loc,
                blobs=blobs,
                text=body.get("text"),
            )
        except EvidenceError as exc:
            record(
                db_session=db_session,
                case=case,
                action=Action.verify_refused,
                actor=actor,
                at=now,
                reason=exc.message,
                evidence={"loc": loc, "media": blobs, "task_id": case.verify_task_id},
            )
    elif result == "reject":
        actions.rework(
            db_session=db_session,
            case=case,
            actor=actor,
            at=now,
            reason=str(body.get("text") or "rejected on site"),
            action=Action.reject,
            loc=loc,
            blobs=blobs,
        )
    else:
        raise InvalidInputError(f"verify result must be confirm or reject, not {result!r}")
    db_session.flush()
    return case
