"""After ingest stores an ``ota`` event or the ack of an ``ota`` command: move the device's
rollout entry. Historical events apply too (they report state, they trigger nothing live)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.commands import service as commands
from hub.ota import rollouts


def on_ota(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """An ``ota`` event (its body checked by ingest: ``protocol.bundle.check_event_body``)."""
    rollouts.apply_report(
        db_session=db_session,
        device_id=event["device_id"],
        seq=int(event["seq"]),
        body=event["body"],
        clock=clock,
    )


def on_ack(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """An ack (already recorded on its command): follow an ``ota`` command's answer, the one
    the command kept (the first final one)."""
    kept = commands.kept_answer(db_session=db_session, event=event, op=rollouts.OP)
    if kept is None:
        return  # not an ota command's, or not the answer the command kept
    cmd, detail = kept
    body = event["body"]
    rollouts.apply_ack(
        db_session=db_session,
        cmd=cmd,
        seq=int(event["seq"]),
        status=str(body.get("status")),
        detail=detail,
        clock=clock,
    )
