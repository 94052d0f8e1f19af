"""The category catalogue: each category's deadline in working hours."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.models import Category
from hub.errors import InvalidInputError


def get_category(*, db_session: Session, code: str) -> Category | None:
    return db_session.get(Category, code)


def list_categories(*, db_session: Session) -> list[Category]:
    return list(db_session.scalars(select(Category).order_by(Category.code)))


def upsert_category(
    *, db_session: Session, code: str, name: str, deadline_hours: int, active: bool = True
) -> Category:
    if deadline_hours <= 0:
        raise InvalidInputError("deadline_hours must be positive")
    row = db_session.get(Category, code) or Category(code=code)
    row.name, row.deadline_hours, row.active = name, deadline_hours, active
    db_session.add(row)
    db_session.flush()
    return row
