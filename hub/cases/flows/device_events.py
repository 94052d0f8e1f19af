"""Device triggers: a grid worker's ``report`` event becomes a case; the worker's on-site
answer to a verification task (a ``verify`` event) closes or reopens it. Flushes only."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions, notices
from hub.cases.duplicates import find_duplicate_of
from hub.cases.evidence import missing_blobs
from hub.cases.flows import blob_arrival
from hub.cases.flows.auto_dispatch import file_and_dispatch
from hub.cases.intake import new_case
from hub.cases.models import Case, CaseStatus
from hub.cases.queries import get_case
from hub.cases.routing import route
from hub.cases.workflow import SYSTEM_ACTOR, Action
from hub.clock import Clock, from_unix
from hub.errors import ConflictError, InvalidInputError, PermissionDeniedError
from hub.notify.models import NotificationKind
from hub.settings import Settings

logger = logging.getLogger(__name__)


def _event_actor(event: dict[str, Any]) -> str:
    worker = event.get("worker_id") or (event.get("body") or {}).get("worker")
    return f"worker:{worker}" if worker else f"device:{event.get('device_id')}"


def on_report(
    *, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings
) -> Case:
    """Turn a grid worker's ``report`` event into a case (idempotent on device + seq).

    ``event``: ``{device_id, seq, ts, kind, body, blobs, grid_code, worker_id, historical}``,
    body ``{category, text, grid, worker, loc: {lat_e6, lon_e6, acc_m}}``. The case is
    collected, then linked to an earlier case if it is a duplicate, else filed and dispatched
    to the responsible community-level unit when one is known (deadline from the capture time
    for historical events). The case's grid is the device's own binding (``grid_code``, set by
    the ingest from the device row), never the ``grid`` the body names: a device with no grid
    makes a case with no grid, which waits in ``pending_acceptance`` for an unscoped operator.
    """
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
    case = new_case(
        db_session=db_session,
        source="report",
        category_code=body.get("category"),
        text=str(body.get("text") or ""),
        grid_code=event.get("grid_code"),
        reported_at=reported_at,
        now=now,
        settings=settings,
        loc=body.get("loc") if isinstance(body.get("loc"), dict) else None,
        media=list(event.get("blobs") or []),
        reporter_worker_id=event.get("worker_id") or body.get("worker"),
        device_id=device_id,
        event_seq=seq,
        historical=historical,
        one_key=body.get("one_key") is True,
    )
    actions.collect(db_session=db_session, case=case, actor=_event_actor(event), at=now)

    first = find_duplicate_of(db_session=db_session, case=case, settings=settings)
    if first is not None:
        actions.void_duplicate(
            db_session=db_session, case=case, first=first, actor=SYSTEM_ACTOR, at=now
        )
        logger.info("report %s/%s linked to case %s as duplicate", device_id, seq, first.id)
        if case.one_key:  # urgent all the same: the unit handling the first case hears of it
            _announce_one_key(db_session, case, now, settings, unit_id=first.unit_id)
        return case

    if settings.auto_dispatch_reports and case.category_code and case.grid_code:
        file_and_dispatch(
            db_session=db_session,
            case=case,
            at=now,
            settings=settings,
            start=reported_at if historical else now,
            filed="grid worker report filed automatically",
            routed="routed by category and grid",
        )
    if case.one_key and case.status != CaseStatus.dispatched.value:
        _announce_one_key(db_session, case, now, settings)  # not dispatched: the routed unit
    db_session.flush()
    logger.info("report %s/%s -> case %s (%s)", device_id, seq, case.id, case.status)
    return case


def _announce_one_key(
    db_session: Session, case: Case, at: datetime, settings: Settings, unit_id: int | None = None
) -> None:
    """A one-key report that no dispatch announced (routing found no unit, auto dispatch is off,
    or it repeats an open case): the responsible unit's liaison is told now all the same."""
    if unit_id is None and case.grid_code is not None:
        unit = route(
            db_session=db_session,
            category_code=case.category_code,
            grid_code=case.grid_code,
            level=case.level,
        )
        unit_id = unit.id if unit is not None else None
    notices.announce(
        db_session=db_session,
        case=case,
        kind=NotificationKind.one_key_report,
        at=at,
        settings=settings,
        unit_id=unit_id,
        note="一键上报 / one-key report",
    )


def on_verify(
    *, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings
) -> Case:
    """The grid worker's on-site answer to a verification task (event kind ``verify``).

    ``confirm`` closes the case when the evidence passes the gate (photo, within
    ``verify_distance_m`` of the case, within ``verify_window_s`` of the request); a failing
    gate is recorded as ``verify_refused`` and the case stays in verification. While a blob the
    envelope names is not received and hash-checked, the confirmation waits
    (``blob_arrival.hold``) and the gate runs when the blob completes. ``reject`` sends
    the case back to handling and counts a rework for the unit. Raises ``NotFoundError``,
    ``ConflictError`` (stale task / wrong state) or ``PermissionDeniedError`` (wrong device).
    """
    body = event.get("body") or {}
    case_id = body.get("case_id")
    if not isinstance(case_id, int):
        raise InvalidInputError("verify event without an integer case_id")
    case = get_case(db_session=db_session, case_id=case_id)
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
        text = body.get("text") if isinstance(body.get("text"), str) else None
        missing = missing_blobs(db_session=db_session, blobs=blobs)
        if missing:  # the photos follow the envelope: judge once they are stored
            blob_arrival.hold(
                db_session=db_session,
                case=case,
                event=event,
                actor=actor,
                at=now,
                taken_at=taken_at,
                loc=loc,
                blobs=blobs,
                text=text,
                missing=missing,
            )
        else:
            blob_arrival.judge(
                db_session=db_session,
                case=case,
                actor=actor,
                at=now,
                settings=settings,
                taken_at=taken_at,
                loc=loc,
                blobs=blobs,
                text=text,
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
