"""Which cases a principal may see: its area (code prefix) and, for a unit, the cases it leads
and those it co-handles (not once released)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from hub.auth.models import Role
from hub.auth.service import Principal
from hub.cases.models import Case
from hub.cases.parts import co_handled_cases, co_handles


def scope_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL condition limiting cases to what ``principal`` may see."""
    conditions: list[ColumnElement[bool]] = []
    if principal.scope_code is not None:
        conditions.append(Case.grid_code.startswith(principal.scope_code, autoescape=True))
    if principal.role == Role.unit:
        conditions.append(
            or_(
                Case.unit_id == principal.unit_id,
                Case.id.in_(co_handled_cases(principal.unit_id)),
            )
        )
    return and_(True, *conditions)


def can_see(principal: Principal, case: Case, *, db_session: Session) -> bool:
    if not principal.covers(case.grid_code):
        return False
    if principal.role != Role.unit or case.unit_id == principal.unit_id:
        return True
    return co_handles(db_session=db_session, case_id=case.id, unit_id=principal.unit_id)


def leads(principal: Principal, case: Case) -> bool:
    """True unless ``principal`` is a unit that only co-handles the case."""
    return principal.role != Role.unit or case.unit_id == principal.unit_id
