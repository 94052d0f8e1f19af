"""One-network intake from the hotline: ``POST /api/hotline/orders`` imports work orders in
batches (idempotent on the hotline system's ticket id; one bad order is reported and the
others are kept). The callback to the caller is the case action ``POST
/api/cases/{id}/callback`` (hub.cases.endpoints)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hub.areas.models import Grid
from hub.auth.deps import CurrentUser
from hub.auth.service import require_roles
from hub.cases import hotline
from hub.cases.endpoints import OPERATORS
from hub.cases.intake import grid_for
from hub.cases.models import Case
from hub.cases.schemas import HotlineImport, HotlineImportResult, HotlineItemResult
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import ConflictError, HubError, InvalidInputError
from hub.settings import Settings

logger = logging.getLogger(__name__)
ItemStatus = Literal["created", "existing", "duplicate", "rejected"]
router = APIRouter(prefix="/api/hotline", tags=["hotline"])


@router.post(
    "/orders",
    response_model=HotlineImportResult,
    summary="Import hotline work orders (idempotent on ticket_id)",
)
def import_orders(
    body: HotlineImport,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> HotlineImportResult:
    require_roles(user, *OPERATORS)
    now = clock.now()
    items: list[HotlineItemResult] = []
    for o in body.orders:

        def reject(why: str, ticket: str = o.ticket_id) -> None:
            items.append(HotlineItemResult(ticket_id=ticket, status="rejected", error=why))

        loc = o.loc.model_dump() if o.loc else None
        try:
            grid_code = grid_for(db_session=db_session, grid_code=o.grid_code, loc=loc)
        except InvalidInputError as exc:
            reject(exc.message)
            continue
        if not user.covers(grid_code):
            reject(f"grid {grid_code} is outside your area")
            continue
        if db_session.get(Grid, grid_code) is None:
            reject(f"unknown grid {grid_code}")
            continue
        order = hotline.Order(
            ticket_id=o.ticket_id,
            channel=o.channel,
            text=o.text,
            grid_code=grid_code,
            received_at=o.received_at,
            category_code=o.category_code,
            caller_name=o.caller_name,
            caller_phone=o.caller_phone,
            callback_required=o.callback_required,
            loc=loc,
        )
        try:
            case, created = _take(db_session, order, user.actor, now, settings)
        except HubError as exc:
            logger.warning("hotline ticket %s rejected: %s", o.ticket_id, exc)
            reject(exc.message)
            continue
        status: ItemStatus = (
            "existing" if not created else "duplicate" if case.duplicate_of_id else "created"
        )
        items.append(
            HotlineItemResult(
                ticket_id=o.ticket_id,
                status=status,
                case_id=case.id,
                duplicate_of=case.duplicate_of_id,
            )
        )
    db_session.commit()
    counts = {s: sum(1 for i in items if i.status == s) for s in ("created", "existing")}
    result = HotlineImportResult(
        created=counts["created"],
        existing=counts["existing"],
        duplicates=sum(1 for i in items if i.status == "duplicate"),
        rejected=sum(1 for i in items if i.status == "rejected"),
        items=items,
    )
    logger.info(
        "hotline import by %s: %d created, %d existing, %d duplicates, %d rejected",
        user.actor, result.created, result.existing, result.duplicates, result.rejected,
    )  # fmt: skip
    return result


def _take(
    db_session: Session, order: hotline.Order, actor: str, now: datetime, settings: Settings
) -> tuple[Case, bool]:
    """``hotline.take_order`` in a savepoint. When another import of the same ticket committed
    while this one was taking it, the insert fails: PostgreSQL refuses the ticket's unique id
    (``IntegrityError``), SQLite the first write of a transaction whose reads came before that
    commit (``OperationalError``, which any other writer's commit may cause too). The savepoint
    is rolled back, what this import took before is committed, and the ticket is read again in a
    fresh transaction (``hotline.reread``): its case (``existing``), else one more try."""
    for attempt in (1, 2):
        try:
            with db_session.begin_nested():
                return hotline.take_order(
                    db_session=db_session, order=order, actor=actor, now=now, settings=settings
                )
        except (IntegrityError, OperationalError) as exc:
            db_session.commit()
            known = hotline.reread(db_session=db_session, order=order)
            if known is not None:
                logger.info("hotline ticket %s was imported meanwhile", order.ticket_id)
                return known, False
            logger.warning("hotline ticket %s, try %d: %s", order.ticket_id, attempt, exc)
            if isinstance(exc, IntegrityError):
                raise ConflictError("conflicting ticket") from exc
    raise ConflictError("the database was busy: import this order again")
