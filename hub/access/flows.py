"""Device triggers of the access domain that open no case: a face terminal's ``enrolled``
event, and the list version a gate reports in its heartbeat and its birth. (Access batches,
whose alarms may open cases, are ``hub.cases.flows.gate_events``.) Flushes only."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from hub.access import lists
from hub.access.service import record_enrolment
from hub.clock import Clock
from hub.devices.models import Device, DeviceKind
from hub.errors import NotFoundError

logger = logging.getLogger(__name__)

GATE_KINDS = frozenset({DeviceKind.access.value, DeviceKind.face.value, DeviceKind.barrier.value})


def _device(db_session: Session, device_id: object) -> Device:
    device = db_session.get(Device, device_id) if isinstance(device_id, str) else None
    if device is None:
        raise NotFoundError(f"device {device_id} not found", code="device_not_found")
    return device


def on_enrolled(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """``enrolled {person, template}``: the template id the face terminal made (never the
    template itself; refused without consent or without a card / QR / PIN)."""
    device = _device(db_session, event.get("device_id"))
    person = record_enrolment(
        db_session=db_session, device=device, body=event.get("body") or {}, at=clock.now()
    )
    logger.info("%s enrolled person %s (template id only)", device.id, person.id)


def note_reported(*, db_session: Session, device_id: str, version: object, clock: Clock) -> None:
    """A gate's reported list version, when it is one (``bool`` and others are ignored)."""
    if type(version) is not int:
        return
    device = db_session.get(Device, device_id)
    if device is None or device.kind not in GATE_KINDS:
        return
    lists.note_list_version(
        db_session=db_session, device_id=device_id, version=version, at=clock.now()
    )


def on_heartbeat(*, db_session: Session, event: dict[str, Any], clock: Clock, **_: Any) -> None:
    """A live heartbeat's ``lists`` (a historical one, replayed from the outbox, is stale: the
    birth of the connection that carried it reported the version already)."""
    if event.get("historical"):
        return
    body = event.get("body") or {}
    note_reported(
        db_session=db_session,
        device_id=str(event.get("device_id")),
        version=body.get("lists"),
        clock=clock,
    )
