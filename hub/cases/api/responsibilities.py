"""Units API, the writes that name categories: a new unit with the categories it handles, and
a responsibility added to a unit. They live in cases because categories do; reading units stays
in ``hub.areas.api``."""

from __future__ import annotations

from fastapi import APIRouter

from hub.areas import service as areas_service
from hub.areas.schemas import ResponsibilityCreate, UnitCreate, UnitRead
from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.bounds import RowId
from hub.cases import routing
from hub.deps import SessionDep
from hub.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/api", tags=["areas"])


def _require_in_scope(user: Principal, code: str) -> None:
    require_roles(user, Role.admin, Role.operator)
    if not user.covers(code):
        raise PermissionDeniedError(f"{code} is outside your area")


@router.post("/units", response_model=UnitRead, status_code=201)
def create_unit(body: UnitCreate, db_session: SessionDep, user: CurrentUser) -> UnitRead:
    _require_in_scope(user, body.area_code)
    unit = routing.create_unit(db_session=db_session, **body.model_dump())
    db_session.commit()
    return UnitRead.of(unit)


@router.post("/units/{unit_id}/responsibilities", response_model=UnitRead, status_code=201)
def add_responsibility(
    unit_id: RowId, body: ResponsibilityCreate, db_session: SessionDep, user: CurrentUser
) -> UnitRead:
    """Make the unit responsible for a category (null: catch-all) in an area of its level."""
    _require_in_scope(user, body.area_code)
    unit = areas_service.get_unit(db_session=db_session, unit_id=unit_id)
    if not user.covers(unit.area_code):
        raise NotFoundError(f"unit {unit_id} not found")
    routing.add_responsibility(
        db_session=db_session,
        unit=unit,
        area_code=body.area_code,
        category_code=body.category_code,
        lead=body.lead,
    )
    db_session.commit()
    db_session.refresh(unit)
    return UnitRead.of(unit)
