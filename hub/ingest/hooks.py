"""What happens after an event is stored: the case workflow's device-event entry points
(``hub.cases.flows.device_events``). Reports become cases (``on_report``) and on-site
verifications close or reopen them (``on_verify``); gate batches fill the access log and open
cases for alarms (``gate_events.on_access``); enrolments, heartbeats, births and list-sync acks
keep the gates' list versions (``hub.access.flows``, ``hub.commands.list_sync``); ``ota``
events and the acks of ``ota`` commands move firmware rollouts (``hub.ota.flows``); a verified
``key`` event switches the device's public key (``hub.devices.service.rotate_key``: the old one
verifies for ``settings.key_rotation_overlap_s`` more; it never makes a case). Historical
events are passed on too (they are filed, with deadlines from the capture time);
``event.historical`` tells the flows not to trigger live actions. ``visit`` and ``collect``
events fill the base data (``hub.basedata.flows``; a record it cannot use is refused with its
reason, the event stays). When a blob completes
(received and hash-checked) the verifications waiting for it are judged
(``blob_arrival.on_blob_complete``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from hub.access import flows as access_flows
from hub.basedata import flows as basedata_flows
from hub.cases import field_tasks
from hub.cases.flows import blob_arrival, device_events, gate_events
from hub.clock import Clock
from hub.commands import list_sync, worker_sync
from hub.devices import flows as device_flows
from hub.devices import service as devices
from hub.errors import HubError
from hub.events.models import Event
from hub.ingest.state import Birth, BirthHook
from hub.ota.flows import device_events as ota_events
from hub.settings import Settings
from hub.workers import flows as worker_flows

logger = logging.getLogger(__name__)

EventHook = Callable[[Session, Event], None]
BlobHook = Callable[[Session, str], None]


def on_key(*, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings) -> None:
    """A ``key`` event (its body checked by ``hub.ingest.verify.key_event_pub``): rotate."""
    devices.rotate_key(
        db_session=db_session,
        device_id=event["device_id"],
        public_key=event["body"]["pub"],
        at=clock.now(),
        overlap_s=settings.key_rotation_overlap_s,
    )


def on_heartbeat(**kwargs: Any) -> None:
    """A heartbeat: the device's battery / backlog / free flash, a gate's list version."""
    device_flows.on_heartbeat(**kwargs)
    access_flows.on_heartbeat(**kwargs)
    worker_flows.on_heartbeat(**kwargs)


def on_ack(**kwargs: Any) -> None:
    """An ack (recorded on its command first): a list sync's progress, an update's answer."""
    list_sync.on_ack(**kwargs)
    worker_sync.on_ack(**kwargs)
    ota_events.on_ack(**kwargs)
    field_tasks.on_ack(**kwargs)


def _worker_checked(flow: Callable[..., Any]) -> Callable[..., Any]:
    """``flow`` after the check that the event's worker was signed in on the device (the check
    is recorded whatever the flow then does)."""

    def checked(**kwargs: Any) -> Any:
        worker_flows.on_worker_event(**kwargs)
        return flow(**kwargs)

    checked.__name__ = getattr(flow, "__name__", "flow")
    return checked


def _base_data(flow: Callable[..., Any]) -> Callable[..., Any]:
    """``flow`` only for a worker signed in on the handheld; otherwise the visit or form is
    refused as base data (the event is kept, and flagged)."""

    def checked(**kwargs: Any) -> Any:
        status = worker_flows.on_worker_event(**kwargs)
        if status in ("not_signed_in", "not_on_grid"):
            basedata_flows.refuse_unchecked(db_session=kwargs["db_session"], event=kwargs["event"],
                                            clock=kwargs["clock"], status=status)  # fmt: skip
            return None
        return flow(**kwargs)

    checked.__name__ = getattr(flow, "__name__", "flow")
    return checked


# Event kinds that reach a flow after they are stored, and the flow each one runs.
FLOWS: dict[str, Callable[..., Any]] = {
    "report": _worker_checked(device_events.on_report),
    "verify": _worker_checked(device_events.on_verify),
    "signin": worker_flows.on_sign_event,  # a session opened, or a wrong PIN counted
    "signout": worker_flows.on_sign_event,  # a session closed (worker, idle, replaced, removed)
    "access": gate_events.on_access,  # a gate's batch: the access log, alarm cases
    "enrolled": access_flows.on_enrolled,  # a face template id (never a template)
    "heartbeat": on_heartbeat,  # battery, backlog, free flash; a gate's list version
    "ack": on_ack,  # (recorded on its command first) a list sync's or an update's progress
    "ota": ota_events.on_ota,  # a firmware update's step (hub.ota.rollouts)
    "key": on_key,  # a key rotation, signed by the old key
    "task": _worker_checked(field_tasks.on_task_event),  # a step on a task; the answer to its case
    "visit": _base_data(basedata_flows.on_visit),  # a household / place visit (入户走访)
    "collect": _base_data(basedata_flows.on_collect),  # a door-to-door form (入户采集)
}


def event_dict(event: Event) -> dict[str, Any]:
    """The event as the flows take it."""
    body = event.body or {}
    worker = body.get("worker")
    return {
        "id": event.id,
        "device_id": event.device_id,
        "seq": event.seq,
        "ts": event.ts,
        "kind": event.kind,
        "body": body,
        "blobs": list(event.blobs or []),
        "grid_code": event.grid_code,
        "worker_id": worker if isinstance(worker, str) else None,
        "historical": event.historical,
    }


def make_dispatcher(*, clock: Clock, settings: Settings) -> EventHook:
    """The after-store hook that hands reports and verifications to the case flows."""

    def dispatch(db_session: Session, event: Event) -> None:
        flow = FLOWS.get(event.kind)
        if flow is None:
            return
        try:
            flow(db_session=db_session, event=event_dict(event), clock=clock, settings=settings)
        except HubError as exc:  # e.g. a stale verification: the event stays stored
            logger.warning("%s of %s seq %d: %s", flow.__name__, event.device_id, event.seq, exc)
            raise

    return dispatch


def make_birth_hook(*, clock: Clock) -> BirthHook:
    """The hook run for each applied birth: a gate's reported list version."""

    def birth(db_session: Session, b: Birth) -> None:
        access_flows.note_reported(
            db_session=db_session, device_id=b.device_id, version=b.lists, clock=clock
        )

    return birth


def make_blob_hook(*, clock: Clock, settings: Settings) -> BlobHook:
    """The hook run when a blob completes, in the chunk's transaction (inside a savepoint, so
    a failing flow never loses the stored chunks; the supervision timer retries it)."""

    def completed(db_session: Session, sha256: str) -> None:
        try:
            with db_session.begin_nested():
                blob_arrival.on_blob_complete(
                    db_session=db_session, sha256=sha256, clock=clock, settings=settings
                )
        except Exception:  # noqa: BLE001 - the blob stays stored
            logger.exception("blob %s: judging the verifications waiting for it failed", sha256)

    return completed
