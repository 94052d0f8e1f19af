"""What the workers domain does when a handheld's event is stored (``hub.ingest.hooks``):
sign events rebuild the device's sessions, a wrong PIN is counted, and every event that names
a worker is checked against the sessions."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.workers import roster, sessions
from hub.workers.models import SigninFailure

logger = logging.getLogger(__name__)


def on_sign_event(*, db_session: Session, event: dict[str, Any], **_: Any) -> None:
    """A ``signin`` or ``signout``: the sessions from here on, and a wrong PIN counted."""
    body = event["body"] if isinstance(event["body"], dict) else {}
    if event["kind"] == "signin" and body.get("ok") is not True:
        _failure(db_session, event, body)
        return
    sessions.rebuild(db_session=db_session, device_id=event["device_id"], from_seq=event["seq"])


def _failure(db_session: Session, event: dict[str, Any], body: dict[str, Any]) -> None:
    have = db_session.scalar(
        select(SigninFailure.id).where(
            SigninFailure.device_id == event["device_id"], SigninFailure.seq == event["seq"]
        )
    )
    if have is not None:
        return
    worker = body.get("worker")
    fails = body.get("fails")
    db_session.add(SigninFailure(
        device_id=event["device_id"],
        seq=event["seq"],
        worker_id=worker[:64] if isinstance(worker, str) else "",
        ts=event["ts"],
        fails=fails if isinstance(fails, int) and not isinstance(fails, bool) else 1,
        locked=body.get("locked") is True,
    ))  # fmt: skip
    db_session.flush()
    if body.get("locked") is True:
        logger.warning("%s: worker id %r locked out after wrong PINs", event["device_id"], worker)


def on_worker_event(*, db_session: Session, event: dict[str, Any], **_: Any) -> str:
    """An event naming its worker (report, verify, task, visit, collect): checked; a worker
    not signed in on the device is flagged (``WorkerCheck.status``)."""
    status = sessions.check(db_session=db_session, event=event)
    if status in ("not_signed_in", "not_on_grid"):
        logger.warning(
            "%s seq %d: %s names worker %r, %s",
            event["device_id"],
            event["seq"],
            event["kind"],
            event["body"].get("worker") if isinstance(event["body"], dict) else None,
            status.replace("_", " "),
        )
    return status


def on_heartbeat(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """A handheld's heartbeat names the worker list it holds (``workers``)."""
    body = event["body"] if isinstance(event["body"], dict) else {}
    version = body.get("workers")  # only handhelds send it; "" when they hold no hub list
    if isinstance(version, str) and 0 < len(version) <= 64:
        roster.note_version(
            db_session=db_session, device_id=event["device_id"], version=version, at=clock.now()
        )
    elif version == "":  # reflashed, or never sent one: known as none
        roster.forget_version(db_session=db_session, device_id=event["device_id"], at=clock.now())
