"""What happens after an event is stored: the case workflow's entry points (hub-core's flows).

Reports become cases (``on_report``) and on-site verifications close or reopen them
(``on_verify``). Historical events are passed on too (they are filed, with deadlines from the
capture time); ``event.historical`` tells the flows not to trigger live actions.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from hub.clock import Clock, default_clock
from hub.errors import HubError
from hub.events.models import Event
from hub.settings import Settings

logger = logging.getLogger(__name__)

FLOWS_MODULE = "hub.cases.flows.device_events"
HOOKS = {"report": "on_report", "verify": "on_verify"}

_missing_logged: set[str] = set()


def _flow(name: str) -> Callable[..., Any] | None:
    try:
        module = importlib.import_module(FLOWS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != FLOWS_MODULE:
            raise
        module = None
    fn = getattr(module, name, None) if module is not None else None
    if fn is None and name not in _missing_logged:
        _missing_logged.add(name)
        logger.warning("%s.%s is not available; events are stored only", FLOWS_MODULE, name)
    return fn


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


def make_dispatcher(
    clock: Clock = default_clock, settings: Settings | None = None
) -> Callable[[Session, Event], None]:
    def dispatch(db_session: Session, event: Event) -> None:
        name = HOOKS.get(event.kind)
        if name is None:
            return
        fn = _flow(name)
        if fn is None:
            return
        try:
            fn(db_session=db_session, event=event_dict(event), clock=clock, settings=settings)
        except HubError as exc:  # e.g. a stale verification: the event stays stored
            logger.warning("%s of %s seq %d: %s", name, event.device_id, event.seq, exc)
            raise

    return dispatch
