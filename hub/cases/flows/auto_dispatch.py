"""What the device triggers do with a new case they may handle without an operator: file it and
dispatch it to the unit routing names (by category and grid at the case's level), the
deadline running from ``start``. Flushes only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.models import Case
from hub.cases.routing import route
from hub.cases.workflow import SYSTEM_ACTOR
from hub.settings import Settings


def file_and_dispatch(
    *,
    db_session: Session,
    case: Case,
    at: datetime,
    settings: Settings,
    start: datetime,
    filed: str,
    routed: str,
) -> None:
    """File ``case`` (reason ``filed``) and dispatch it to its routed unit (reason ``routed``)
    when one is responsible; without one it stays filed for an operator to dispatch."""
    assert case.grid_code is not None
    actions.file(db_session=db_session, case=case, actor=SYSTEM_ACTOR, at=at, reason=filed)
    unit = route(
        db_session=db_session,
        category_code=case.category_code,
        grid_code=case.grid_code,
        level=case.level,
    )
    if unit is not None:
        actions.dispatch(
            db_session=db_session,
            case=case,
            actor=SYSTEM_ACTOR,
            at=at,
            settings=settings,
            unit_id=unit.id,
            start=start,
            reason=routed,
        )
