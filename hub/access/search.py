"""Searching the access log (within the caller's area) and one community's figures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from hub.access.models import AccessLogEntry
from hub.clock import from_unix
from hub.errors import InvalidInputError

MAX_FIGURES_RANGE = timedelta(days=31)
VEHICLES_INSIDE_LIMIT = 5000


@dataclass(frozen=True)
class LogFilter:
    community: str | None = None  # an area code prefix works too (street, district)
    device_id: str | None = None
    person_id: str | None = None
    plate: str | None = None
    door: str | None = None
    direction: str | None = None
    ev: str | None = None
    alarms_only: bool = False
    historical: bool | None = None  # False: live events only (live alarms), True: held ones
    since: datetime | None = None
    until: datetime | None = None


def _conditions(scope_code: str | None, flt: LogFilter) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if scope_code is not None:
        parts.append(AccessLogEntry.community.startswith(scope_code[:12], autoescape=True))
    if flt.community is not None:
        parts.append(AccessLogEntry.community.startswith(flt.community, autoescape=True))
    for column, value in (
        (AccessLogEntry.device_id, flt.device_id),
        (AccessLogEntry.person_id, flt.person_id),
        (AccessLogEntry.plate, flt.plate),
        (AccessLogEntry.door, flt.door),
        (AccessLogEntry.direction, flt.direction),
        (AccessLogEntry.ev, flt.ev),
    ):
        if value is not None:
            parts.append(column == value)
    if flt.alarms_only:
        parts.append(AccessLogEntry.is_alarm.is_(True))
    if flt.historical is not None:
        parts.append(AccessLogEntry.historical.is_(flt.historical))
    if flt.since is not None:
        parts.append(AccessLogEntry.ts >= int(flt.since.timestamp()))
    if flt.until is not None:
        parts.append(AccessLogEntry.ts < int(flt.until.timestamp()))
    return and_(True, *parts)


def search_log(
    *, db_session: Session, scope_code: str | None, flt: LogFilter, offset: int, limit: int
) -> tuple[list[AccessLogEntry], int]:
    """Matching rows, newest capture first, and their total."""
    where = _conditions(scope_code, flt)
    total = db_session.scalar(select(func.count()).select_from(AccessLogEntry).where(where))
    rows = db_session.scalars(
        select(AccessLogEntry)
        .where(where)
        .order_by(AccessLogEntry.ts.desc(), AccessLogEntry.ms.desc(), AccessLogEntry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


@dataclass
class Figures:
    hours: list[tuple[datetime, int, int, int, int]]  # hour, people in/out, vehicles in/out
    vehicles_inside: list[tuple[str, datetime, str | None, str | None]]
    alarms: dict[str, int]
    denied: dict[str, int]


def figures(*, db_session: Session, community: str, since: datetime, until: datetime) -> Figures:
    """In / out counts by hour (granted passages), alarms by kind and denials by reason over
    ``[since, until)``, and the vehicles inside now (latest granted plate passage is ``in``)."""
    if until <= since or until - since > MAX_FIGURES_RANGE:
        raise InvalidInputError(f"want since < until, at most {MAX_FIGURES_RANGE.days} days apart")
    lo, hi = int(since.timestamp()), int(until.timestamp())
    in_range = and_(
        AccessLogEntry.community == community, AccessLogEntry.ts >= lo, AccessLogEntry.ts < hi
    )
    hour = (AccessLogEntry.ts // 3600).label("hour")
    vehicle = (AccessLogEntry.by == "plate").label("vehicle")
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for h, is_vehicle, direction, n in db_session.execute(
        select(hour, vehicle, AccessLogEntry.direction, func.count())
        .where(in_range, AccessLogEntry.ev == "granted", AccessLogEntry.direction.is_not(None))
        .group_by(hour, vehicle, AccessLogEntry.direction)
    ):
        slot = (2 if is_vehicle else 0) + (0 if direction == "in" else 1)
        counts[int(h)][slot] += int(n)
    hours = [
        (from_unix(h * 3600), counts[h][0], counts[h][1], counts[h][2], counts[h][3])
        for h in sorted(counts)
    ]
    alarms = {
        ev: int(n)
        for ev, n in db_session.execute(
            select(AccessLogEntry.ev, func.count())
            .where(in_range, AccessLogEntry.is_alarm.is_(True))
            .group_by(AccessLogEntry.ev)
        )
    }
    denied = {
        str(reason): int(n)
        for reason, n in db_session.execute(
            select(AccessLogEntry.reason, func.count())
            .where(in_range, AccessLogEntry.ev == "denied")
            .group_by(AccessLogEntry.reason)
        )
    }
    return Figures(hours, _vehicles_inside(db_session, community), alarms, denied)


def _vehicles_inside(
    db_session: Session, community: str
) -> list[tuple[str, datetime, str | None, str | None]]:
    """Plates whose latest granted passage (capture time, then arrival order) is ``in``."""
    passages = (
        select(
            AccessLogEntry.plate,
            AccessLogEntry.direction,
            AccessLogEntry.ts,
            AccessLogEntry.door,
            AccessLogEntry.person_id,
            func.row_number()
            .over(
                partition_by=AccessLogEntry.plate,
                order_by=(
                    AccessLogEntry.ts.desc(),
                    AccessLogEntry.ms.desc(),
                    AccessLogEntry.id.desc(),
                ),
            )
            .label("rank"),
        )
        .where(
            AccessLogEntry.community == community,
            AccessLogEntry.ev == "granted",
            AccessLogEntry.plate.is_not(None),
            AccessLogEntry.direction.is_not(None),
        )
        .subquery()
    )
    rows = db_session.execute(
        select(passages.c.plate, passages.c.ts, passages.c.door, passages.c.person_id)
        .where(passages.c.rank == 1, passages.c.direction == "in")
        .order_by(passages.c.ts, passages.c.plate)
        .limit(VEHICLES_INSIDE_LIMIT)
    )
    return [(plate, from_unix(ts), door, person) for plate, ts, door, person in rows]
