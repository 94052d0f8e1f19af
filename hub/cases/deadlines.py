"""Deadlines in working time per category, the warning point before them, and overdue."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from hub.cases.calendar import calendar_from_settings
from hub.cases.models import DEADLINE_STATUSES, Case, Category
from hub.settings import Settings

DEFAULT_DEADLINE_HOURS = 16


def deadline_for(
    *, db_session: Session, category_code: str | None, start: datetime, settings: Settings
) -> datetime:
    category = db_session.get(Category, category_code) if category_code else None
    hours = category.deadline_hours if category is not None else DEFAULT_DEADLINE_HOURS
    return calendar_from_settings(settings).add_working_time(start, timedelta(hours=hours))


def warning_due_at(case: Case, settings: Settings) -> datetime | None:
    if case.deadline_at is None or case.deadline_start_at is None:
        return None
    span = case.deadline_at - case.deadline_start_at
    return case.deadline_start_at + span * settings.warn_before_deadline_ratio


def is_overdue(case: Case, now: datetime) -> bool:
    return (
        case.status in DEADLINE_STATUSES and case.deadline_at is not None and now > case.deadline_at
    )
