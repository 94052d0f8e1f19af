"""Evidence trigger: a worker's on-site ``confirm`` is judged only on bytes the hub holds.

A verify envelope names its photos; they follow it in chunks. ``on_verify`` judges at once
when every named blob is already stored, else it records a ``PendingVerification`` (and a
``verify_pending`` row on the case, which stays in ``verifying``). When the ingest completes a
blob (received and hash-checked) it calls ``on_blob_complete``, which judges the pending
verifications naming that blob once all their blobs are stored. ``resolve_pending`` does the
same for every open one from the supervision timer: the safety net for a blob that completed
on another worker while the envelope's transaction was still open. Flushes only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.evidence import blob_shas, missing_blobs
from hub.cases.models import Case, CaseStatus, PendingVerification
from hub.cases.workflow import Action
from hub.clock import Clock
from hub.errors import EvidenceError
from hub.settings import Settings

logger = logging.getLogger(__name__)


def judge(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    at: datetime,
    settings: Settings,
    taken_at: datetime,
    loc: dict[str, Any] | None,
    blobs: list[dict[str, Any]],
    text: str | None,
) -> str:
    """Close the case if the evidence passes the gate, else record ``verify_refused``."""
    try:
        actions.close(
            db_session=db_session,
            case=case,
            actor=actor,
            at=at,
            settings=settings,
            taken_at=taken_at,
            loc=loc,
            blobs=blobs,
            text=text,
        )
        return "closed"
    except EvidenceError as exc:  # its code says which gate (e.g. ``callback_required``)
        evidence = {"loc": loc, "media": list(blobs), "code": exc.code}
        actions.verify_refused(
            db_session=db_session,
            case=case,
            actor=actor,
            at=at,
            reason=exc.message,
            evidence=evidence,
        )
        return "refused"


def hold(
    *,
    db_session: Session,
    case: Case,
    event: dict[str, Any],
    actor: str,
    at: datetime,
    taken_at: datetime,
    loc: dict[str, Any] | None,
    blobs: list[dict[str, Any]],
    text: str | None,
    missing: list[str],
) -> PendingVerification:
    """Keep a confirmation whose blobs ``missing`` are not stored yet; the case stays."""
    assert case.verify_task_id is not None and case.verify_device_id is not None
    pending = PendingVerification(
        case_id=case.id,
        event_id=event.get("id"),
        task_id=case.verify_task_id,
        device_id=case.verify_device_id,
        actor=actor,
        taken_at=taken_at,
        loc=loc,
        blobs=blobs,
        text=text,
        created_at=at,
    )
    db_session.add(pending)
    actions.verify_refused(
        db_session=db_session,
        case=case,
        actor=actor,
        at=at,
        reason=f"waiting for {len(missing)} of {len(blobs)} blob(s) to be received",
        evidence={"loc": loc, "media": list(blobs), "waiting_for": missing},
        action=Action.verify_pending,
    )
    logger.info("case %s: verification waits for blobs %s", case.id, missing)
    return pending


def _evaluate(
    db_session: Session, pending: PendingVerification, now: datetime, settings: Settings
) -> bool:
    """Judge ``pending`` if all its blobs are stored (or drop it if its task is over)."""
    case = db_session.get(Case, pending.case_id)
    if (
        case is None
        or case.status != CaseStatus.verifying.value
        or case.verify_task_id != pending.task_id
    ):
        pending.resolved_at, pending.outcome = now, "stale"
        return True
    if missing_blobs(db_session=db_session, blobs=pending.blobs):
        return False
    pending.outcome = judge(
        db_session=db_session,
        case=case,
        actor=pending.actor,
        at=now,
        settings=settings,
        taken_at=pending.taken_at,
        loc=pending.loc,
        blobs=pending.blobs,
        text=pending.text,
    )
    pending.resolved_at = now
    logger.info("case %s: pending verification %s: %s", case.id, pending.id, pending.outcome)
    return True


def _open(db_session: Session) -> list[PendingVerification]:
    """Open pending verifications: at most a few per case in ``verifying``."""
    query = select(PendingVerification).where(PendingVerification.resolved_at.is_(None))
    return list(db_session.scalars(query.order_by(PendingVerification.id)))


def on_blob_complete(
    *, db_session: Session, sha256: str, clock: Clock, settings: Settings
) -> list[int]:
    """A blob was received and hash-checked: judge the verifications waiting for it.
    Returns the ids of the cases whose pending verification was resolved."""
    now = clock.now()
    resolved = []
    for pending in _open(db_session):
        if sha256 in blob_shas(pending.blobs) and _evaluate(db_session, pending, now, settings):
            resolved.append(pending.case_id)
    db_session.flush()
    return resolved


def resolve_pending(*, db_session: Session, clock: Clock, settings: Settings) -> list[int]:
    """The timer's pass over every open pending verification (see the module docstring)."""
    now = clock.now()
    resolved = [p.case_id for p in _open(db_session) if _evaluate(db_session, p, now, settings)]
    db_session.flush()
    return resolved
