"""Liaisons and the notification outbox: who a unit's notices go to, and writing one.

``notify`` adds a ``Notification`` and one pending ``Delivery`` per active liaison of the unit
that takes its kind, in the caller's transaction (it flushes at most): the notice exists
exactly when the change it announces is committed, and the sender delivers it from there.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Unit
from hub.errors import ConflictError, InvalidInputError, NotFoundError
from hub.notify.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Liaison,
    Notification,
    NotificationKind,
)
from hub.settings import Settings

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # the Standard Webhooks form of a signing secret
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def new_secret() -> str:
    """A webhook signing secret: 32 random bytes, ``whsec_`` + base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_address(*, channel: Channel | str, address: str, settings: Settings) -> str:
    """The address, checked for its channel (an absolute http(s) URL; an e-mail address with
    the hub's SMTP server set). Raises ``InvalidInputError`` / ``ConflictError``."""
    address = address.strip()
    if Channel(channel) == Channel.webhook:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"a webhook address is an http(s) URL, not {address!r}")
        if parts.username or parts.password:
            raise InvalidInputError("a webhook URL carries no user or password: it is signed")
        return address
    if not _EMAIL.match(address):
        raise InvalidInputError(f"{address!r} is not an e-mail address")
    if not settings.smtp_host:
        raise ConflictError(
            "e-mail liaisons need the hub's SMTP server: set GRIDLINK_SMTP_HOST and "
            "GRIDLINK_SMTP_FROM (docs/notifications.md)",
            code="smtp_not_configured",
        )
    return address


def _check_kinds(kinds: Iterable[str]) -> list[str]:
    out: list[str] = []
    for kind in kinds:
        try:
            out.append(NotificationKind(kind).value)
        except ValueError:
            choices = ", ".join(k.value for k in NotificationKind)
            raise InvalidInputError(
                f"unknown notification kind {kind!r}: one of {choices}"
            ) from None
    return sorted(set(out))


def get_unit(*, db_session: Session, unit_id: int) -> Unit:
    unit = db_session.get(Unit, unit_id)
    if unit is None:
        raise NotFoundError(f"unit {unit_id} not found")
    return unit


def get_liaison(*, db_session: Session, liaison_id: int) -> Liaison:
    liaison = db_session.get(Liaison, liaison_id)
    if liaison is None:
        raise NotFoundError(f"liaison {liaison_id} not found")
    return liaison


def list_liaisons(*, db_session: Session, unit_id: int) -> list[Liaison]:
    return list(
        db_session.scalars(select(Liaison).where(Liaison.unit_id == unit_id).order_by(Liaison.id))
    )


def create_liaison(
    *,
    db_session: Session,
    unit: Unit,
    name: str,
    channel: Channel | str,
    address: str,
    kinds: Iterable[str],
    settings: Settings,
    at: datetime,
) -> Liaison:
    """A liaison of ``unit``; a webhook one gets its signing secret (``liaison.secret``)."""
    kind = Channel(channel)
    liaison = Liaison(
        unit_id=unit.id,
        name=name.strip(),
        channel=kind.value,
        address=check_address(channel=kind, address=address, settings=settings),
        secret=new_secret() if kind == Channel.webhook else None,
        kinds=_check_kinds(kinds),
        active=True,
        created_at=at,
        updated_at=at,
    )
    db_session.add(liaison)
    db_session.flush()
    return liaison


def update_liaison(
    *,
    db_session: Session,
    liaison: Liaison,
    settings: Settings,
    at: datetime,
    name: str | None = None,
    address: str | None = None,
    kinds: Iterable[str] | None = None,
    active: bool | None = None,
) -> Liaison:
    if name is not None:
        liaison.name = name.strip()
    if address is not None:
        liaison.address = check_address(channel=liaison.channel, address=address, settings=settings)
    if kinds is not None:
        liaison.kinds = _check_kinds(kinds)
    if active is not None:
        liaison.active = active
    liaison.updated_at = at
    db_session.flush()
    return liaison


def rotate_secret(*, db_session: Session, liaison: Liaison, at: datetime) -> str:
    """A new signing secret for a webhook liaison; deliveries from now on are signed by it."""
    if liaison.channel != Channel.webhook:
        raise InvalidInputError(f"liaison {liaison.id} is {liaison.channel}: it has no secret")
    liaison.secret = new_secret()
    liaison.updated_at = at
    db_session.flush()
    return liaison.secret


def delete_liaison(*, db_session: Session, liaison: Liaison) -> None:
    """Remove the liaison; its deliveries stay in the log (with the address they had), and the
    pending ones are given up by the sender."""
    db_session.delete(liaison)
    db_session.flush()


def _recipients(db_session: Session, unit_id: int | None, kind: NotificationKind) -> list[Liaison]:
    if unit_id is None:
        return []
    rows = db_session.scalars(
        select(Liaison)
        .where(Liaison.unit_id == unit_id, Liaison.active.is_(True))
        .order_by(Liaison.id)
    )
    return [row for row in rows if not row.kinds or kind.value in row.kinds]


def notify(
    *,
    db_session: Session,
    kind: NotificationKind,
    unit_id: int | None,
    at: datetime,
    subject: str,
    body: str,
    data: dict[str, Any],
    case_id: int | None = None,
    grid_code: str | None = None,
    only: Liaison | None = None,
) -> Notification:
    """Write a notification to ``unit_id``'s liaisons (``only``: to that one alone), due now.

    A unit without a liaison still gets the notification row (the log shows nobody was told);
    the deliveries are what the sender sends.
    """
    recipients = [only] if only is not None else _recipients(db_session, unit_id, kind)
    note = Notification(
        kind=kind.value,
        unit_id=unit_id,
        case_id=case_id,
        grid_code=grid_code,
        created_at=at,
        subject=subject[:300],
        body=body,
        data=data,
    )
    db_session.add(note)
    for liaison in recipients:
        note.deliveries.append(
            Delivery(
                liaison_id=liaison.id,
                channel=liaison.channel,
                address=liaison.address,
                status=DeliveryStatus.pending.value,
                attempts=0,
                next_attempt_at=at,
            )
        )
    db_session.flush()
    if not recipients:
        logger.info("notification %s (%s) for unit %s: no liaison", note.id, kind, unit_id)
    return note


def retry_delivery(*, db_session: Session, delivery_id: int, at: datetime) -> Delivery:
    """Send a failed delivery again, now (after the receiver or the address was fixed)."""
    delivery = db_session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFoundError(f"delivery {delivery_id} not found")
    if delivery.status != DeliveryStatus.failed:
        raise ConflictError(f"delivery {delivery_id} is {delivery.status}, not failed")
    liaison = db_session.get(Liaison, delivery.liaison_id) if delivery.liaison_id else None
    if liaison is None:
        raise ConflictError(f"delivery {delivery_id}'s liaison was removed: nobody to send to")
    delivery.address = liaison.address  # the address as fixed since
    delivery.status = DeliveryStatus.pending.value
    delivery.attempts = 0
    delivery.next_attempt_at = at
    delivery.lease_until = None
    db_session.flush()
    return delivery
