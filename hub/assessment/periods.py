"""Assessment periods in local civil time (``work_utc_offset_minutes``): an ISO week
``2026-W02``, a month ``2026-01``, a quarter ``2026-Q1`` or a year ``2026``, as UTC bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hub.clock import ensure_utc
from hub.errors import InvalidInputError
from hub.settings import Settings

WEEK_RE = re.compile(r"^(20\d{2})-W(0[1-9]|[1-4]\d|5[0-3])$")
MONTH_RE = re.compile(r"^(20\d{2})-(0[1-9]|1[0-2])$")
QUARTER_RE = re.compile(r"^(20\d{2})-Q([1-4])$")
YEAR_RE = re.compile(r"^(20\d{2})$")
PERIOD_PATTERN = r"^20\d{2}(-(0[1-9]|1[0-2])|-Q[1-4])?$"
WEEK_PATTERN = r"^20\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$"


@dataclass(frozen=True)
class Period:
    label: str  # "2026-W02", "2026-01", "2026-Q1", "2026"
    kind: str  # week | month | quarter | year
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    months: float  # its length in months, to scale the monthly targets (a week: 7 / 30.44)


DAYS_PER_MONTH = 30.44  # the mean month, for a week or any [since, until)


def _local_midnight(day: date, settings: Settings) -> datetime:
    offset = timedelta(minutes=settings.work_utc_offset_minutes)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - offset


def _add_months(year: int, month: int, n: int) -> date:
    index = year * 12 + month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def parse(label: str, settings: Settings) -> Period:
    """A period label as bounds; ``InvalidInputError`` names the forms it takes."""
    if m := WEEK_RE.match(label):
        return week(label, settings)
    if m := MONTH_RE.match(label):
        year, mon = int(m[1]), int(m[2])
        return _months(label, "month", date(year, mon, 1), 1, settings)
    if m := QUARTER_RE.match(label):
        year, q = int(m[1]), int(m[2])
        return _months(label, "quarter", date(year, 3 * q - 2, 1), 3, settings)
    if m := YEAR_RE.match(label):
        return _months(label, "year", date(int(m[1]), 1, 1), 12, settings)
    raise InvalidInputError(
        f"period must be a month (2026-01), a quarter (2026-Q1) or a year (2026), not {label!r}",
        field="period",
    )


def _months(label: str, kind: str, first: date, n: int, settings: Settings) -> Period:
    last = _add_months(first.year, first.month, n)
    start, end = _local_midnight(first, settings), _local_midnight(last, settings)
    return Period(label=label, kind=kind, start=start, end=end, months=float(n))


def week(label: str, settings: Settings) -> Period:
    """``2026-W02`` -> Monday 00:00 to the next Monday 00:00, local time."""
    m = WEEK_RE.match(label)
    try:
        if m is None:
            raise ValueError(label)
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError as exc:
        raise InvalidInputError(
            f"week must be an ISO week like 2026-W02, not {label!r}", field="week"
        ) from exc
    start = _local_midnight(monday, settings)
    return Period(label=label, kind="week", start=start, end=start + timedelta(days=7),
                  months=7 / DAYS_PER_MONTH)  # fmt: skip


def week_of(at: datetime, settings: Settings) -> Period:
    """The ISO week (local time) ``at`` falls in."""
    local = at.astimezone(UTC) + timedelta(minutes=settings.work_utc_offset_minutes)
    year, number, _ = local.date().isocalendar()
    return week(f"{year}-W{number:02d}", settings)


def month_of(at: datetime, settings: Settings) -> Period:
    local = at.astimezone(UTC) + timedelta(minutes=settings.work_utc_offset_minutes)
    return parse(f"{local.year}-{local.month:02d}", settings)


def between(since: datetime | None, until: datetime | None) -> Period:
    """Any ``[since, until)``; the monthly targets scale by its length in months."""
    if since is None or until is None:
        raise InvalidInputError("give both since and until (or a period)", field="since")
    start, end = ensure_utc(since), ensure_utc(until)
    if end <= start:
        raise InvalidInputError("until must be after since", field="until")
    months = (end - start).total_seconds() / (DAYS_PER_MONTH * 86400)
    label = f"{start.isoformat()}/{end.isoformat()}"
    return Period(label=label, kind="custom", start=start, end=end, months=months)
