"""Working-time calendar for deadlines: working hours on working days, in local civil time.

Kept deliberately simple: one fixed UTC offset, one working period per day, configurable
weekend days, public holidays and make-up working days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

from hub.settings import Settings

MAX_DAYS_SCANNED = 3660  # ten years: a guard against a calendar with no working days


@dataclass(frozen=True)
class WorkCalendar:
    utc_offset_minutes: int = 480
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    weekend_days: frozenset[int] = frozenset({5, 6})  # Monday = 0
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        return day.weekday() not in self.weekend_days and day not in self.holidays

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.day_start, self.tz),
            datetime.combine(day, self.day_end, self.tz)
            if self.day_end != time(0)
            else datetime.combine(day + timedelta(days=1), time(0), self.tz),
        )

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when ``duration`` of working time has elapsed after ``start``."""
        if duration <= timedelta(0):
            return start
        remaining = duration
        cursor = start.astimezone(self.tz)
        for _ in range(MAX_DAYS_SCANNED):
            day = cursor.date()
            begin, end = self._bounds(day)
            if self.is_working_day(day) and cursor < end:
                cursor = max(cursor, begin)
                available = end - cursor
                if remaining <= available:
                    return (cursor + remaining).astimezone(UTC)
                remaining -= available
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.tz)
        raise ValueError("calendar has no working time within ten years")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from ``start`` to ``end`` (zero when ``end`` <= ``start``)."""
        total = timedelta(0)
        cursor = start.astimezone(self.tz)
        stop = end.astimezone(self.tz)
        while cursor < stop:
            day = cursor.date()
            begin, day_end = self._bounds(day)
            if self.is_working_day(day):
                lo, hi = max(cursor, begin), min(stop, day_end)
                if hi > lo:
                    total += hi - lo
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.tz)
        return total


def calendar_from_settings(settings: Settings) -> WorkCalendar:
    end = time(0) if settings.work_day_end_hour == 24 else time(settings.work_day_end_hour)
    return WorkCalendar(
        utc_offset_minutes=settings.work_utc_offset_minutes,
        day_start=time(settings.work_day_start_hour),
        day_end=end,
        weekend_days=frozenset(settings.weekend_days),
        holidays=frozenset(settings.holidays),
        extra_working_days=frozenset(settings.extra_working_days),
    )
