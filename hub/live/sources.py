"""What the live feed reads: four append-only tables, each by primary key.

- ``case``: a new row of ``cases``;
- ``transition``: a new row of ``case_transitions`` (the workflow's audit log);
- ``alarm``: a new live alarm row of ``access_log`` (``is_alarm``, not historical), with the
  case opened for it when there is one;
- ``device``: a new row of ``device_presence`` (a device went online or offline).

Each table is written in the transaction of the change itself, by whichever process makes it
(the API, an ingest worker), so the feed needs nothing but the database. ``visible`` is the
scope rule: the grid-code prefix of the case, the gate's grid, the device's binding; a unit
sees only the case events of cases it leads or co-handles (a part not released), and no alarm
or device events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from hub.access.models import AccessLogEntry
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.cases.models import Case, CaseTransition, CaseUnit, PartStatus
from hub.devices.models import DevicePresence

# The order of the sources in a cursor (and within one poll).
SOURCES = ("case", "transition", "alarm", "device")


@dataclass(frozen=True)
class LiveEvent:
    type: str  # one of SOURCES
    row_id: int  # primary key in its table
    data: dict[str, Any]  # what the browser gets (hub/console/static/live.js)
    area: str | None  # the grid (or community) code it belongs to; None: no area
    unit_id: int | None  # the case's unit (case and transition events)
    co_units: frozenset[int] = frozenset()  # its co-handling units (parts not released)


def visible(principal: Principal, event: LiveEvent) -> bool:
    """May ``principal`` receive ``event`` (or even learn that it exists)?"""
    if principal.role == Role.unit:
        return (
            event.type in ("case", "transition")
            and principal.unit_id is not None
            and (event.unit_id == principal.unit_id or principal.unit_id in event.co_units)
        )
    return principal.covers(event.area)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _case_event(row: Any) -> LiveEvent:
    case: Case = row[0]
    data = {
        "id": case.id,
        "status": case.status,
        "level": case.level,
        "grid_code": case.grid_code,
        "category_code": case.category_code,
        "source": case.source,
        "deadline_at": _iso(case.deadline_at),
        "at": _iso(case.created_at),
    }
    return LiveEvent("case", case.id, data, case.grid_code, case.unit_id)


def _transition_event(row: Any) -> LiveEvent:
    tr: CaseTransition = row[0]
    data = {
        "case_id": tr.case_id,
        "action": tr.action,
        "from_status": tr.from_status,
        "to_status": tr.to_status,
        "level": tr.level,
        "actor": tr.actor,
        "at": _iso(tr.at),
    }
    return LiveEvent("transition", tr.id, data, row[1], row[2])


def _alarm_event(row: Any) -> LiveEvent:
    entry: AccessLogEntry = row[0]
    data = {
        "device_id": entry.device_id,
        "kind": entry.ev,
        "community_code": entry.community,
        "case_id": row[1],
        "at": _iso(entry.captured_at),
    }
    return LiveEvent("alarm", entry.id, data, entry.grid_code, None)


def _device_event(row: Any) -> LiveEvent:
    p: DevicePresence = row[0]
    data = {
        "device_id": p.device_id,
        "kind": p.kind,
        "grid_code": p.grid_code,
        "online": p.online,
        "at": _iso(p.at),
    }
    return LiveEvent("device", p.id, data, p.grid_code, None)


@dataclass(frozen=True)
class _Source:
    id_column: Any
    query: Callable[[], Any]  # () -> Select of (row, ...)
    event: Callable[[Any], LiveEvent]
    at_column: Any  # when the hub wrote the row (its clock)
    area_column: Any  # what ``LiveEvent.area`` is read from
    unit_column: Any | None  # what ``LiveEvent.unit_id`` is read from (None: no unit)
    case_column: Any | None = None  # the case's id (its co-handlers see it too)


_SOURCES: dict[str, _Source] = {
    "case": _Source(
        Case.id,
        lambda: select(Case),
        _case_event,
        Case.created_at,
        Case.grid_code,
        Case.unit_id,
        Case.id,
    ),
    "transition": _Source(
        CaseTransition.id,
        lambda: select(CaseTransition, Case.grid_code, Case.unit_id).join(
            Case, Case.id == CaseTransition.case_id
        ),
        _transition_event,
        CaseTransition.at,
        Case.grid_code,
        Case.unit_id,
        CaseTransition.case_id,
    ),
    "alarm": _Source(
        AccessLogEntry.id,
        lambda: (
            select(AccessLogEntry, Case.id)
            .outerjoin(Case, Case.access_event_id == AccessLogEntry.id)
            .where(AccessLogEntry.is_alarm.is_(True), AccessLogEntry.historical.is_(False))
        ),
        _alarm_event,
        AccessLogEntry.received_at,
        AccessLogEntry.grid_code,
        None,
    ),
    "device": _Source(
        DevicePresence.id,
        lambda: select(DevicePresence),
        _device_event,
        DevicePresence.at,
        DevicePresence.grid_code,
        None,
    ),
}


def _visible_clause(src: _Source, principal: Principal) -> ColumnElement[bool] | None:
    """``visible`` in SQL (None: every row), so a resume's limit counts the caller's rows."""
    if principal.role == Role.unit:
        if src.unit_column is None or principal.unit_id is None:
            return false()
        clause: ColumnElement[bool] = src.unit_column == principal.unit_id
        if src.case_column is not None:
            clause = or_(clause, src.case_column.in_(_co_handled(principal.unit_id)))
        return clause
    if principal.scope_code is None:
        return None
    area: ColumnElement[bool] = src.area_column.startswith(principal.scope_code, autoescape=True)
    return area


def _co_handled(unit_id: int) -> Any:
    return select(CaseUnit.case_id).where(
        CaseUnit.unit_id == unit_id, CaseUnit.status != PartStatus.released.value
    )


def _with_co_units(db_session: Session, events: list[LiveEvent]) -> list[LiveEvent]:
    """The events with their cases' co-handling units (one query for the batch)."""
    ids = {e.row_id if e.type == "case" else e.data["case_id"] for e in events}
    if not ids:
        return events
    parts: dict[int, set[int]] = {}
    for case_id, unit_id in db_session.execute(
        select(CaseUnit.case_id, CaseUnit.unit_id).where(
            CaseUnit.case_id.in_(ids), CaseUnit.status != PartStatus.released.value
        )
    ):
        parts.setdefault(case_id, set()).add(unit_id)
    if not parts:
        return events
    return [
        replace(e, co_units=frozenset(parts.get(e.row_id if e.type == "case" else
                                                e.data["case_id"], ())))
        for e in events
    ]  # fmt: skip


def read_after(
    *,
    db_session: Session,
    source: str,
    after_id: int,
    upto_id: int | None = None,
    limit: int,
    principal: Principal | None = None,
    since: datetime | None = None,
) -> list[LiveEvent]:
    """The events of ``source`` with ``after_id < id (<= upto_id)``, in id order. With
    ``upto_id`` the newest ``limit`` of them (a resume), else the oldest ``limit``; with
    ``principal`` only the rows it may see, with ``since`` only rows written since then."""
    src = _SOURCES[source]
    query = src.query().where(src.id_column > after_id)
    if principal is not None and (clause := _visible_clause(src, principal)) is not None:
        query = query.where(clause)
    if since is not None:
        query = query.where(src.at_column >= since)
    if upto_id is None:
        rows = list(db_session.execute(query.order_by(src.id_column).limit(limit)))
    else:
        query = query.where(src.id_column <= upto_id).order_by(src.id_column.desc())
        rows = list(reversed(list(db_session.execute(query.limit(limit)))))
    events = [src.event(row) for row in rows]
    return _with_co_units(db_session, events) if src.case_column is not None else events


def newest_ids(*, db_session: Session) -> dict[str, int]:
    """The highest id of each source's table now (0 when empty)."""
    return {
        name: int(db_session.scalar(select(func.max(src.id_column))) or 0)
        for name, src in _SOURCES.items()
    }
