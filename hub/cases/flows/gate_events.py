"""Device trigger: a gate's ``access`` batch. Every event is stored in the access log
(``hub.access.service.record_batch``); a forced door, a blacklist hit, a duress PIN and a help
request each become a case in the workflow, filed and dispatched to the responsible unit of the
gate's community (its catch-all office unless a unit is named for the category).

Historical batches (captured while the link or the hub was down) are recorded and filed the
same way, but nothing live happens for them: their alarm rows stay historical (never a live
alarm in the access API or the console) and the case deadline runs from the capture time.
Flushes only.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from hub.access.models import AccessLogEntry
from hub.access.service import record_batch
from hub.cases import actions
from hub.cases.categories import get_category
from hub.cases.flows.auto_dispatch import file_and_dispatch
from hub.cases.intake import new_case
from hub.cases.models import Case
from hub.clock import Clock
from hub.devices.models import Device
from hub.errors import NotFoundError
from hub.settings import Settings

logger = logging.getLogger(__name__)

# alarm -> the case category it is filed under (created by migration 0004)
CASE_ALARMS = {
    "door_forced": "access_door_forced",
    "blacklist_hit": "access_blacklist_hit",
    "duress": "access_duress",
    "help": "access_help",
}
_TEXT = {
    "door_forced": "门被强行打开 Door forced open",
    "blacklist_hit": "黑名单人员/车辆出现 Blacklist hit",
    "duress": "胁迫密码开门 Duress PIN used",
    "help": "求助按钮被按下 Help button pressed",
}


def on_access(
    *, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings
) -> list[Case]:
    """Store the batch; open a case per alarm of ``CASE_ALARMS`` stored now (a redelivered
    batch stores nothing, so opens nothing). Returns the cases."""
    device = db_session.get(Device, event.get("device_id"))
    if device is None:
        raise NotFoundError(f"device {event.get('device_id')} not found", code="device_not_found")
    now = clock.now()
    historical = bool(event.get("historical"))
    alarms = record_batch(
        db_session=db_session,
        device=device,
        seq=int(event["seq"]),
        body=event.get("body") or {},
        blobs=list(event.get("blobs") or []),
        historical=historical,
        at=now,
    )
    cases = [
        _open_case(db_session, device, alarm, event, now, settings)
        for alarm in alarms
        if alarm.ev in CASE_ALARMS
    ]
    for alarm in alarms:
        logger.log(
            logging.INFO if historical else logging.WARNING,
            "%s alarm %s at %s door %s (%s)",
            device.id,
            alarm.ev,
            alarm.community,
            alarm.door,
            "historical, no live action" if historical else "live",
        )
    return cases


def _open_case(
    db_session: Session,
    device: Device,
    alarm: AccessLogEntry,
    event: dict[str, Any],
    now: Any,
    settings: Settings,
) -> Case:
    blobs = list(event.get("blobs") or [])
    media = [b for b in blobs if isinstance(b, dict) and b.get("sha256") == alarm.blob_sha256]
    category = CASE_ALARMS[alarm.ev]
    door = f" ({alarm.door})" if alarm.door else ""
    case = new_case(
        db_session=db_session,
        source="alarm",
        category_code=category,
        text=f"{_TEXT[alarm.ev]}{door}, {device.name or device.id}",
        grid_code=device.grid_code,
        reported_at=alarm.captured_at,
        now=now,
        settings=settings,
        media=media,
        device_id=device.id,
        historical=alarm.historical,
    )
    case.access_event_id = alarm.id
    actions.collect(db_session=db_session, case=case, actor=f"device:{device.id}", at=now)
    if case.grid_code is None or get_category(db_session=db_session, code=category) is None:
        db_session.flush()
        return case  # waits in pending_acceptance for an operator
    file_and_dispatch(
        db_session=db_session,
        case=case,
        at=now,
        settings=settings,
        start=alarm.captured_at if alarm.historical else now,
        filed="gate alarm filed",
        routed="gate alarm routed to the community",
    )
    db_session.flush()
    return case
