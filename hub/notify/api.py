"""Liaisons of a unit (admin, or an operator whose area holds the unit's seat; a unit reads
its own, without secrets) and the notification log with its deliveries and attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hub.areas.models import Unit
from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.bounds import PageOffset, RowId
from hub.deps import ClockDep, SessionDep, SettingsDep
from hub.errors import NotFoundError
from hub.notify import queries, service
from hub.notify.models import DeliveryStatus, Liaison, NotificationKind
from hub.notify.schemas import (
    DeliveryRead,
    LiaisonCreate,
    LiaisonCreated,
    LiaisonRead,
    LiaisonUpdate,
    NotificationPage,
    NotificationRead,
    SecretRead,
)

router = APIRouter(prefix="/api", tags=["notifications"])


def _visible_unit(db_session: SessionDep, user: Principal, unit_id: int) -> Unit:
    unit = db_session.get(Unit, unit_id)
    if unit is None or not user.covers(unit.area_code):
        raise NotFoundError(f"unit {unit_id} not found")
    if user.role == Role.unit and user.unit_id != unit.id:
        raise NotFoundError(f"unit {unit_id} not found")
    return unit


def _managed_unit(db_session: SessionDep, user: Principal, unit_id: int) -> Unit:
    unit = _visible_unit(db_session, user, unit_id)
    require_roles(user, Role.admin, Role.operator)
    return unit


def _managed_liaison(db_session: SessionDep, user: Principal, liaison_id: int) -> Liaison:
    liaison = service.get_liaison(db_session=db_session, liaison_id=liaison_id)
    try:
        _managed_unit(db_session, user, liaison.unit_id)
    except NotFoundError:
        raise NotFoundError(f"liaison {liaison_id} not found") from None
    return liaison


@router.get("/units/{unit_id}/liaisons", response_model=list[LiaisonRead])
def list_liaisons(unit_id: RowId, db_session: SessionDep, user: CurrentUser) -> list[LiaisonRead]:
    unit = _visible_unit(db_session, user, unit_id)
    rows = service.list_liaisons(db_session=db_session, unit_id=unit.id)
    return [LiaisonRead.of(r) for r in rows]


@router.post("/units/{unit_id}/liaisons", response_model=LiaisonCreated, status_code=201)
def create_liaison(
    unit_id: RowId,
    body: LiaisonCreate,
    db_session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    clock: ClockDep,
) -> LiaisonCreated:
    """Add a liaison; a webhook one's signing secret is in the answer, and only there."""
    unit = _managed_unit(db_session, user, unit_id)
    row = service.create_liaison(
        db_session=db_session,
        unit=unit,
        name=body.name,
        channel=body.channel,
        address=body.address,
        kinds=body.kinds,
        settings=settings,
        at=clock.now(),
    )
    db_session.commit()
    return LiaisonCreated(**LiaisonRead.of(row).model_dump(), secret=row.secret)


@router.patch("/liaisons/{liaison_id}", response_model=LiaisonRead)
def update_liaison(
    liaison_id: RowId,
    body: LiaisonUpdate,
    db_session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    clock: ClockDep,
) -> LiaisonRead:
    liaison = _managed_liaison(db_session, user, liaison_id)
    service.update_liaison(
        db_session=db_session,
        liaison=liaison,
        settings=settings,
        at=clock.now(),
        **body.model_dump(exclude_unset=True),
    )
    db_session.commit()
    return LiaisonRead.of(liaison)


@router.delete("/liaisons/{liaison_id}", status_code=204)
def delete_liaison(liaison_id: RowId, db_session: SessionDep, user: CurrentUser) -> Response:
    liaison = _managed_liaison(db_session, user, liaison_id)
    service.delete_liaison(db_session=db_session, liaison=liaison)
    db_session.commit()
    return Response(status_code=204)


@router.post("/liaisons/{liaison_id}/secret", response_model=SecretRead)
def rotate_secret(
    liaison_id: RowId, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> SecretRead:
    """A new signing secret for a webhook liaison (the old one stops signing at once)."""
    liaison = _managed_liaison(db_session, user, liaison_id)
    secret = service.rotate_secret(db_session=db_session, liaison=liaison, at=clock.now())
    db_session.commit()
    return SecretRead(liaison_id=liaison.id, secret=secret)


@router.post("/liaisons/{liaison_id}/test", response_model=NotificationRead, status_code=202)
def send_test(
    liaison_id: RowId, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> NotificationRead:
    """Queue a test notification to this liaison alone (the log shows how it went)."""
    liaison = _managed_liaison(db_session, user, liaison_id)
    unit = _visible_unit(db_session, user, liaison.unit_id)
    note = service.notify(
        db_session=db_session,
        kind=NotificationKind.test,
        unit_id=unit.id,
        at=clock.now(),
        subject=f"【网格通】测试通知：{unit.name} | Gridlink test notification",
        body=(
            f"这是发给{unit.name}联络员 {liaison.name} 的测试通知，由 {user.name} 发送。\n\n"
            f"A test notification to {liaison.name}, liaison of {unit.name}, sent by {user.name}."
        ),
        data={"unit": {"id": unit.id, "name": unit.name}, "by": user.name},
        only=liaison,
    )
    db_session.commit()
    return NotificationRead.of(note)


@router.get("/notifications", response_model=NotificationPage)
def list_notifications(
    db_session: SessionDep,
    user: CurrentUser,
    case_id: RowId | None = None,
    unit_id: RowId | None = None,
    kind: NotificationKind | None = None,
    status: Annotated[
        DeliveryStatus | None, Query(description="notices with a delivery in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: PageOffset = 0,
) -> NotificationPage:
    total, rows = queries.list_notifications(
        db_session=db_session,
        principal=user,
        case_id=case_id,
        unit_id=unit_id,
        kind=kind.value if kind else None,
        status=status,
        limit=limit,
        offset=offset,
    )
    return NotificationPage(total=total, items=[NotificationRead.of(r) for r in rows])


@router.get("/notifications/{notification_id}", response_model=NotificationRead)
def get_notification(
    notification_id: RowId, db_session: SessionDep, user: CurrentUser
) -> NotificationRead:
    """One notice with its text, its data and each delivery's attempts."""
    row = queries.get_notification(
        db_session=db_session, principal=user, notification_id=notification_id
    )
    return NotificationRead.of(row, full=True)


@router.post("/notifications/deliveries/{delivery_id}/retry", response_model=DeliveryRead)
def retry_delivery(
    delivery_id: RowId, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> DeliveryRead:
    """Send a failed delivery again, now, to the liaison's current address."""
    require_roles(user, Role.admin, Role.operator)
    queries.visible_delivery(db_session=db_session, principal=user, delivery_id=delivery_id)
    delivery = service.retry_delivery(
        db_session=db_session, delivery_id=delivery_id, at=clock.now()
    )
    db_session.commit()
    return DeliveryRead.of(delivery)
