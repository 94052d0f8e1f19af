"""Base data over HTTP: residents, houses, organisations, visits (graded, scoped, audited),
the resident export (a reason required, audited) and the refused collections.

Every answer that carries personal data writes an ``hub.privacy`` audit row in the request's
transaction, committed before the answer leaves. ``purpose`` (why the caller reads) is kept in
the row; without it an identity grant shows nothing more than the role's default."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from hub.auth.deps import CurrentUser
from hub.auth.service import Principal
from hub.basedata import service
from hub.basedata.models import Organisation, Resident
from hub.basedata.schemas import (
    HouseDetail,
    HouseRead,
    OrganisationRead,
    RefusalCount,
    RefusalRead,
    ResidentRead,
    VisitRead,
)
from hub.bounds import PageOffset, RowId
from hub.clock import Clock
from hub.deps import ClockDep, SessionDep
from hub.errors import ConflictError, NotFoundError, PermissionDeniedError
from hub.privacy import audit, grants
from hub.privacy.policy import Reader, require_reader
from hub.privacy.schemas import Purpose
from hub.spreadsheet import safe_text

router = APIRouter(prefix="/api/basedata", tags=["basedata"])

Limit = Annotated[int, Query(ge=1, le=1000)]
PurposeQ = Annotated[Purpose | None, Query(description="why you read this (kept in the audit)")]
GridQ = Annotated[str | None, Query(pattern=r"^\d{4,14}$")]
HouseCodeQ = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9-]{4,40}$")]
EXPORT_MAX = 50_000

RESIDENT_COLUMNS = [
    "id",
    "name",
    "gender",
    "ethnicity",
    "birth_date",
    "id_number",
    "phone",
    "relation",
    "population_type",
    "status",
    "house_code",
    "grid_code",
    "collected_by",
    "confirmed_at",
    "revision",
]


def _reader(db_session: Session, user: Principal, purpose: str | None, clock: Clock) -> Reader:
    return grants.reader_for(
        db_session=db_session, principal=user, purpose=purpose, now=clock.now()
    )


def _audit(
    db_session: Session,
    reader: Reader,
    clock: Clock,
    action: str,
    kind: str,
    ids: list[int],
    query: dict[str, Any] | None = None,
) -> None:
    """The read's audit row (the endpoint commits it before it answers)."""
    audit.record(
        db_session=db_session, reader=reader, action=action, kind=kind, record_ids=ids,
        shown=reader.shown(kind), withheld=reader.withheld(kind), at=clock.now(), query=query,
    )  # fmt: skip


@router.get("/residents", response_model=list[ResidentRead])
def list_residents(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    grid_code: GridQ = None,
    house_code: HouseCodeQ = None,
    q: Annotated[str | None, Query(max_length=60, description="part of the name")] = None,
    id_number: Annotated[str | None, Query(pattern=r"^\d{17}[\dXx]$")] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(pattern=r"^(present|moved_out)$")] = None,
    purpose: PurposeQ = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> list[dict[str, Any]]:
    """Residents inside the caller's area. Searching by ``id_number`` or ``phone`` needs the
    grade to see that field (403 ``grade_required``): a search is a read of what it matches."""
    reader = _reader(db_session, user, purpose, clock)
    searched = {"q": q, "id_number": id_number, "phone": phone}
    action = "search" if any(v is not None for v in searched.values()) else "list"
    filters = {
        "grid_code": grid_code,
        "house_code": house_code,
        "status": status,
        "q": q,
        "id_number": "given" if id_number else None,
        "phone": "given" if phone else None,
    }
    try:
        rows = service.list_residents(
            db_session=db_session,
            reader=reader,
            grid_code=grid_code,
            house_code=house_code,
            q=q,
            id_number=id_number,
            phone=phone,
            status=status,
            offset=offset,
            limit=limit,
        )
    except PermissionDeniedError:  # a search the grade does not allow: on record too
        _audit(db_session, reader, clock, "denied", "resident", [], filters)
        db_session.commit()
        raise
    _audit(db_session, reader, clock, action, "resident", [r.id for r in rows], filters)
    db_session.commit()
    return [service.view(reader, "resident", r) for r in rows]


@router.get(
    "/residents/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def export_residents(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    reason: Annotated[Purpose, Query(description="why this export is needed (audited)")],
    grid_code: GridQ = None,
    house_code: HouseCodeQ = None,
) -> Response:
    """The residents inside the caller's area as CSV (UTF-8 with BOM), graded like a read:
    withheld columns are left out. ``reason`` is required and kept in the audit."""
    reader = _reader(db_session, user, reason, clock)
    rows = service.list_residents(
        db_session=db_session,
        reader=reader,
        grid_code=grid_code,
        house_code=house_code,
        limit=EXPORT_MAX + 1,
    )
    if len(rows) > EXPORT_MAX:
        raise ConflictError(
            f"more than {EXPORT_MAX} residents: narrow grid_code", code="export_too_large"
        )
    hidden = set(reader.withheld("resident"))
    columns = [c for c in RESIDENT_COLUMNS if c not in hidden]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        data = service.view(reader, "resident", row)
        writer.writerow([safe_text(data[c]) for c in columns])
    _audit(
        db_session,
        reader,
        clock,
        "export",
        "resident",
        [r.id for r in rows],
        {"grid_code": grid_code, "house_code": house_code},
    )
    db_session.commit()
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="residents.csv"'},
    )


@router.get("/residents/{resident_id}", response_model=ResidentRead)
def get_resident(
    resident_id: RowId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    purpose: PurposeQ = None,
) -> dict[str, Any]:
    reader = _reader(db_session, user, purpose, clock)
    row = service.get_row(db_session=db_session, reader=reader, model=Resident, row_id=resident_id)
    if row is None:
        raise NotFoundError(f"resident {resident_id} not found", code="resident_not_found")
    _audit(db_session, reader, clock, "detail", "resident", [row.id])
    db_session.commit()
    return service.view(reader, "resident", row)


@router.get("/houses", response_model=list[HouseRead])
def list_houses(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    grid_code: GridQ = None,
    q: Annotated[str | None, Query(max_length=60)] = None,
    purpose: PurposeQ = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> list[dict[str, Any]]:
    reader = _reader(db_session, user, purpose, clock)
    rows = service.list_houses(
        db_session=db_session, reader=reader, grid_code=grid_code, q=q, offset=offset, limit=limit
    )
    _audit(
        db_session,
        reader,
        clock,
        "search" if q else "list",
        "house",
        [r.id for r in rows],
        {"grid_code": grid_code, "q": q},
    )
    db_session.commit()
    return [service.view(reader, "house", r) for r in rows]


@router.get("/houses/{house_code}", response_model=HouseDetail)
def get_house(
    house_code: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{4,40}$")],
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    purpose: PurposeQ = None,
) -> dict[str, Any]:
    """A house with the residents and organisations in it and its visits (each graded)."""
    reader = _reader(db_session, user, purpose, clock)
    house = service.house_by_code(db_session=db_session, reader=reader, house_code=house_code)
    if house is None:
        raise NotFoundError(f"house {house_code} not found", code="house_not_found")
    people = service.list_residents(
        db_session=db_session, reader=reader, house_code=house.house_code, limit=1000
    )
    orgs = service.organisations_in(db_session=db_session, reader=reader, house=house)
    visits = service.list_visits(
        db_session=db_session,
        reader=reader,
        grid_code=None,
        worker=None,
        house_code=house.house_code,
        offset=0,
        limit=100,
    )
    _audit(db_session, reader, clock, "detail", "house", [house.id])
    within = {"house_code": house.house_code}
    for kind, ids in (
        ("resident", [p.id for p in people]),
        ("organisation", [o.id for o in orgs]),
        ("visit", [v.id for v in visits]),
    ):
        if ids:
            _audit(db_session, reader, clock, "detail", kind, ids, within)
    db_session.commit()
    detail = service.view(reader, "house", house)
    detail["residents"] = [service.view(reader, "resident", p) for p in people]
    detail["organisations"] = [service.view(reader, "organisation", o) for o in orgs]
    detail["visits"] = [VisitRead.model_validate(v) for v in visits]
    return detail


@router.get("/organisations", response_model=list[OrganisationRead])
def list_organisations(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    grid_code: GridQ = None,
    q: Annotated[str | None, Query(max_length=60)] = None,
    purpose: PurposeQ = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> list[dict[str, Any]]:
    reader = _reader(db_session, user, purpose, clock)
    rows = service.list_organisations(
        db_session=db_session, reader=reader, grid_code=grid_code, q=q, offset=offset, limit=limit
    )
    _audit(
        db_session,
        reader,
        clock,
        "search" if q else "list",
        "organisation",
        [r.id for r in rows],
        {"grid_code": grid_code, "q": q},
    )
    db_session.commit()
    return [service.view(reader, "organisation", r) for r in rows]


@router.get("/organisations/{organisation_id}", response_model=OrganisationRead)
def get_organisation(
    organisation_id: RowId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    purpose: PurposeQ = None,
) -> dict[str, Any]:
    reader = _reader(db_session, user, purpose, clock)
    row = service.get_row(
        db_session=db_session, reader=reader, model=Organisation, row_id=organisation_id
    )
    if row is None:
        raise NotFoundError(
            f"organisation {organisation_id} not found", code="organisation_not_found"
        )
    _audit(db_session, reader, clock, "detail", "organisation", [row.id])
    db_session.commit()
    return service.view(reader, "organisation", row)


@router.get("/visits", response_model=list[VisitRead])
def list_visits(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    grid_code: GridQ = None,
    worker: Annotated[str | None, Query(max_length=64)] = None,
    house_code: HouseCodeQ = None,
    purpose: PurposeQ = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> list[VisitRead]:
    reader = _reader(db_session, user, purpose, clock)
    rows = service.list_visits(
        db_session=db_session,
        reader=reader,
        grid_code=grid_code,
        worker=worker,
        house_code=house_code,
        offset=offset,
        limit=limit,
    )
    _audit(
        db_session,
        reader,
        clock,
        "list",
        "visit",
        [v.id for v in rows],
        {"grid_code": grid_code, "worker": worker, "house_code": house_code},
    )
    db_session.commit()
    return [VisitRead.model_validate(v) for v in rows]


@router.get("/refusals", response_model=list[RefusalRead])
def list_refusals(
    db_session: SessionDep, user: CurrentUser, limit: Limit = 100, offset: PageOffset = 0
) -> list[RefusalRead]:
    """Collections and visits that made no record (field and reason; no values): the events
    stay stored, so a worker can collect again."""
    require_reader(user)
    rows = service.list_refusals(
        db_session=db_session, scope_code=user.scope_code, offset=offset, limit=limit
    )
    return [RefusalRead.model_validate(r) for r in rows]


@router.get("/refusals/counts", response_model=list[RefusalCount])
def refusal_counts(db_session: SessionDep, user: CurrentUser) -> list[RefusalCount]:
    require_reader(user)
    rows = service.refusal_counts(db_session=db_session, scope_code=user.scope_code)
    return [RefusalCount(kind=k, form=f, field=fld, count=n) for k, f, fld, n in rows]
