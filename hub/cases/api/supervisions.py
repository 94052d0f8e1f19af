"""Supervision notices (督办): the list in the caller's scope, the target unit's response and
an operator's withdrawal. Issuing one is the case action ``supervise``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.bounds import PageOffset, RowId
from hub.cases import actions, supervisions
from hub.cases.detail import case_detail
from hub.cases.models import Case, Supervision, SupervisionLevel, SupervisionStatus
from hub.cases.queries import get_case
from hub.cases.schemas import (
    CaseDetail,
    SupervisionPage,
    SupervisionRead,
    SupervisionResponseBody,
    SupervisionWithdrawBody,
)
from hub.cases.scope import scope_clause
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/api/supervisions", tags=["supervision"])


@router.get("", response_model=SupervisionPage)
def list_supervisions(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    case_id: RowId | None = None,
    unit_id: RowId | None = None,
    kind: SupervisionLevel | None = None,
    status: SupervisionStatus | None = None,
    overdue: Annotated[bool, Query(description="open and past its deadline")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: PageOffset = 0,
) -> SupervisionPage:
    """The notices on cases the caller may see (a unit: those on its cases), newest first."""
    where = [scope_clause(user)]
    if case_id is not None:
        where.append(Supervision.case_id == case_id)
    if unit_id is not None:
        where.append(Supervision.target_unit_id == unit_id)
    if kind is not None:
        where.append(Supervision.kind == kind.value)
    if status is not None:
        where.append(Supervision.status == status.value)
    if overdue:
        where += [Supervision.status == "open", Supervision.deadline_at < clock.now()]
    base = select(Supervision).join(Case, Case.id == Supervision.case_id).where(*where)
    total = db_session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db_session.scalars(base.order_by(Supervision.id.desc()).limit(limit).offset(offset))
    return SupervisionPage(total=total, items=[SupervisionRead.model_validate(r) for r in rows])


def _notice(
    db_session: SessionDep, user: Principal, supervision_id: int
) -> tuple[Supervision, Case]:
    row = supervisions.get_supervision(db_session=db_session, supervision_id=supervision_id)
    try:
        case = get_case(db_session=db_session, case_id=row.case_id, principal=user)
    except NotFoundError:
        raise NotFoundError(f"supervision {supervision_id} not found") from None
    return row, case


@router.post("/{supervision_id}/respond", response_model=CaseDetail)
def respond(
    supervision_id: RowId,
    body: SupervisionResponseBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    """The target unit answers the notice (an operator may record an answer given by phone)."""
    row, case = _notice(db_session, user, supervision_id)
    if user.role == Role.unit and user.unit_id != row.target_unit_id:
        raise PermissionDeniedError(f"supervision {row.id} is addressed to another unit")
    actions.supervision_response(db_session=db_session, case=case, notice=row,
                                 actor=user.actor, at=clock.now(), text=body.text)  # fmt: skip
    db_session.commit()
    return case_detail(
        db_session=db_session, case=case, now=clock.now(), principal=user, settings=settings
    )


@router.post("/{supervision_id}/withdraw", response_model=CaseDetail)
def withdraw(
    supervision_id: RowId,
    body: SupervisionWithdrawBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    """An operator withdraws an open notice issued by mistake (the reason is recorded)."""
    require_roles(user, Role.admin, Role.operator)
    row, case = _notice(db_session, user, supervision_id)
    actions.supervision_withdraw(db_session=db_session, case=case, notice=row,
                                 actor=user.actor, at=clock.now(), reason=body.reason)  # fmt: skip
    db_session.commit()
    return case_detail(
        db_session=db_session, case=case, now=clock.now(), principal=user, settings=settings
    )
