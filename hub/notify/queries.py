"""Reading the notification log, limited to what a principal may see: its area (the grid of
the case a notice is about, or the unit's seat) and, for a unit, its own notices."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from hub.areas.models import Unit
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.errors import NotFoundError
from hub.notify.models import Delivery, DeliveryStatus, Notification


def _scope(principal: Principal) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if principal.scope_code is not None:
        seat = select(Unit.area_code).where(Unit.id == Notification.unit_id).scalar_subquery()
        conditions.append(
            or_(
                Notification.grid_code.startswith(principal.scope_code, autoescape=True),
                and_(
                    Notification.grid_code.is_(None),
                    seat.startswith(principal.scope_code, autoescape=True),
                ),
            )
        )
    if principal.role == Role.unit:
        conditions.append(Notification.unit_id == principal.unit_id)
    return and_(True, *conditions)


def list_notifications(
    *,
    db_session: Session,
    principal: Principal,
    case_id: int | None = None,
    unit_id: int | None = None,
    kind: str | None = None,
    status: DeliveryStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Notification]]:
    """The newest first; ``status``: notices with at least one delivery in that state."""
    where = [_scope(principal)]
    if case_id is not None:
        where.append(Notification.case_id == case_id)
    if unit_id is not None:
        where.append(Notification.unit_id == unit_id)
    if kind is not None:
        where.append(Notification.kind == kind)
    if status is not None:
        where.append(
            Notification.id.in_(
                select(Delivery.notification_id).where(Delivery.status == status.value)
            )
        )
    total = db_session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0
    rows = db_session.scalars(
        select(Notification)
        .where(*where)
        .options(selectinload(Notification.deliveries))
        .order_by(Notification.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return total, list(rows)


def get_notification(
    *, db_session: Session, principal: Principal, notification_id: int
) -> Notification:
    row = db_session.scalar(
        select(Notification).where(Notification.id == notification_id, _scope(principal))
    )
    if row is None:
        raise NotFoundError(f"notification {notification_id} not found")
    return row


def visible_delivery(*, db_session: Session, principal: Principal, delivery_id: int) -> Delivery:
    delivery = db_session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFoundError(f"delivery {delivery_id} not found")
    get_notification(
        db_session=db_session, principal=principal, notification_id=delivery.notification_id
    )
    return delivery


def notifications_of_case(
    *, db_session: Session, principal: Principal, case_id: int
) -> list[Notification]:
    """The notices about a case that ``principal`` may see, oldest first (a unit: its own)."""
    return list(
        db_session.scalars(
            select(Notification)
            .where(Notification.case_id == case_id, _scope(principal))
            .options(selectinload(Notification.deliveries))
            .order_by(Notification.id)
        )
    )
