"""Base-data queries, always inside the reader's area scope, and the masked views of rows."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from hub.basedata.models import House, Organisation, Refusal, Resident, Visit
from hub.errors import PermissionDeniedError
from hub.privacy.policy import FIELDS, Reader

Row = Resident | House | Organisation
R = TypeVar("R", Resident, Organisation)


S = TypeVar("S", bound=Select[Any])


def _scoped(query: S, column: Any, scope: str | None) -> S:
    return query if scope is None else query.where(column.startswith(scope, autoescape=True))


def view(reader: Reader, kind: str, row: Row) -> dict[str, Any]:
    """The row as ``reader`` may see it: a dict with ``withheld``."""
    data = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    data.pop("event_id", None)
    data.pop("created_at", None)
    masked = reader.mask(kind, data)
    masked["withheld"] = reader.withheld(kind)
    return masked


def list_residents(
    *,
    db_session: Session,
    reader: Reader,
    grid_code: str | None = None,
    house_code: str | None = None,
    q: str | None = None,
    id_number: str | None = None,
    phone: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[Resident]:
    """Residents inside the reader's scope. Filtering by ID number or phone is itself a read
    of that field (an oracle: "is this number here?"), so it needs the grade to see it."""
    classes = FIELDS["resident"]
    if id_number is not None and not reader.sees(classes["id_number"]):
        raise PermissionDeniedError(
            "searching by ID number needs the identity grant and a stated purpose",
            code="grade_required",
        )
    if phone is not None and not reader.sees(classes["phone"]):
        raise PermissionDeniedError(
            "searching by phone needs the grade to see phones", code="grade_required"
        )
    query = _scoped(select(Resident), Resident.grid_code, reader.principal.scope_code)
    if grid_code is not None:
        query = query.where(Resident.grid_code.startswith(grid_code, autoescape=True))
    if house_code is not None:
        query = query.where(Resident.house_code == house_code)
    if q:
        query = query.where(Resident.name.contains(q, autoescape=True))
    if id_number is not None:
        query = query.where(Resident.id_number == id_number.upper())
    if phone is not None:
        query = query.where(Resident.phone == phone)
    if status is not None:
        query = query.where(Resident.status == status)
    return list(db_session.scalars(query.order_by(Resident.id).offset(offset).limit(limit)))


def get_row(*, db_session: Session, reader: Reader, model: type[R], row_id: int) -> R | None:
    row = db_session.get(model, row_id)
    if row is None or not reader.principal.covers(row.grid_code):
        return None
    return row


def house_by_code(*, db_session: Session, reader: Reader, house_code: str) -> House | None:
    row = db_session.scalar(select(House).where(House.house_code == house_code))
    if row is None or not reader.principal.covers(row.grid_code):
        return None
    return row


def organisations_in(*, db_session: Session, reader: Reader, house: House) -> list[Organisation]:
    query = select(Organisation).where(Organisation.house_code == house.house_code)
    query = _scoped(query, Organisation.grid_code, reader.principal.scope_code)
    return list(db_session.scalars(query.order_by(Organisation.id)))


def list_houses(
    *,
    db_session: Session,
    reader: Reader,
    grid_code: str | None,
    q: str | None,
    offset: int,
    limit: int,
) -> list[House]:
    query = _scoped(select(House), House.grid_code, reader.principal.scope_code)
    if grid_code is not None:
        query = query.where(House.grid_code.startswith(grid_code, autoescape=True))
    if q:
        query = query.where(
            or_(
                House.address.contains(q, autoescape=True),
                House.house_code.contains(q, autoescape=True),
            )
        )
    return list(db_session.scalars(query.order_by(House.id).offset(offset).limit(limit)))


def list_organisations(
    *,
    db_session: Session,
    reader: Reader,
    grid_code: str | None,
    q: str | None,
    offset: int,
    limit: int,
) -> list[Organisation]:
    query = _scoped(select(Organisation), Organisation.grid_code, reader.principal.scope_code)
    if grid_code is not None:
        query = query.where(Organisation.grid_code.startswith(grid_code, autoescape=True))
    if q:
        query = query.where(
            or_(
                Organisation.name.contains(q, autoescape=True),
                Organisation.credit_code == q.upper(),
            )
        )
    return list(db_session.scalars(query.order_by(Organisation.id).offset(offset).limit(limit)))


def list_visits(
    *,
    db_session: Session,
    reader: Reader,
    grid_code: str | None,
    worker: str | None,
    house_code: str | None,
    offset: int,
    limit: int,
) -> list[Visit]:
    query = _scoped(select(Visit), Visit.grid_code, reader.principal.scope_code)
    if grid_code is not None:
        query = query.where(Visit.grid_code.startswith(grid_code, autoescape=True))
    if worker is not None:
        query = query.where(Visit.worker == worker)
    if house_code is not None:
        query = query.where(Visit.house_code == house_code)
    query = query.order_by(Visit.visited_at.desc(), Visit.id.desc())
    return list(db_session.scalars(query.offset(offset).limit(limit)))


def list_refusals(
    *, db_session: Session, scope_code: str | None, offset: int, limit: int
) -> list[Refusal]:
    query = _scoped(select(Refusal), Refusal.grid_code, scope_code)
    return list(db_session.scalars(query.order_by(Refusal.id.desc()).offset(offset).limit(limit)))


def refusal_counts(
    *, db_session: Session, scope_code: str | None
) -> list[tuple[str, str | None, str, int]]:
    query = select(Refusal.kind, Refusal.form, Refusal.field, func.count())
    if scope_code is not None:
        query = query.where(Refusal.grid_code.startswith(scope_code, autoescape=True))
    query = query.group_by(Refusal.kind, Refusal.form, Refusal.field)
    return [(str(k), f, str(fld), int(n)) for k, f, fld, n in db_session.execute(query)]
