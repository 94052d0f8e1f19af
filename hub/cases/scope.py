"""Which cases a principal may see: its area (code prefix) and, for a unit, its own cases."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_

from hub.auth.models import Role
from hub.auth.service import Principal
from hub.cases.models import Case


def scope_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL condition limiting cases to what ``principal`` may see."""
    conditions: list[ColumnElement[bool]] = []
    if principal.scope_code is not None:
        conditions.append(Case.grid_code.startswith(principal.scope_code, autoescape=True))
    if principal.role == Role.unit:
        conditions.append(Case.unit_id == principal.unit_id)
    return and_(True, *conditions)


def can_see(principal: Principal, case: Case) -> bool:
    if principal.role == Role.unit and case.unit_id != principal.unit_id:
        return False
    return principal.covers(case.grid_code)
