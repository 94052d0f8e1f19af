"""Device identities and their broker accounts (``hub.broker_admin``): registration creates
the account, revocation disables it, the supervision pass retries what the broker refused.

These orchestrate a database transaction with a broker call that cannot share it, so they
commit themselves, in the order that keeps the two consistent:
- registration: validate, create the account, then write and commit the device; a failure
  after the account exists deletes it again;
- revocation: commit the revocation first (it must stand even when the broker is down), then
  disable the account and record when; the supervision pass retries until it succeeds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.broker_admin import AccountExistsError, BrokerAdmin, BrokerAdminError, DeviceAccount
from hub.clock import Clock
from hub.devices import service
from hub.devices.models import Device, DeviceStatus
from hub.devices.schemas import DeviceCreate
from hub.errors import ConflictError

logger = logging.getLogger(__name__)


def register(
    *, db_session: Session, data: DeviceCreate, clock: Clock, admin: BrokerAdmin
) -> tuple[Device, DeviceAccount | None]:
    """Register the device and create its broker account; commits. The account (None: the
    hub runs without broker accounts) is returned once and never stored. BrokerAdminError:
    nothing is registered (the caller's session is left to roll back)."""
    service.check_registration(db_session=db_session, data=data)
    try:
        account = admin.create_device(data.id)
    except AccountExistsError:
        # The hub owns every device account and this id is not registered: the account is an
        # orphan (a registration whose clean-up failed, or made by hand). Replace it, so no
        # earlier password or disabled state carries over to the new identity.
        logger.warning("%s: replacing an orphan broker account of that name", data.id)
        admin.delete_device(data.id)
        account = admin.create_device(data.id)
    try:
        device = service.register_device(db_session=db_session, data=data, clock=clock)
        db_session.commit()
    except Exception:
        db_session.rollback()
        if account is not None:
            try:
                admin.delete_device(data.id)
            except BrokerAdminError as exc:
                logger.error(
                    "%s: registration failed; its broker account remains: %s", data.id, exc
                )
        raise
    logger.info("%s registered (%s, broker account: %s)", device.id, device.kind, bool(account))
    return device, account


def reset_password(*, db_session: Session, device_id: str, admin: BrokerAdmin) -> DeviceAccount:
    """A new broker password for an active device (re-flash); BrokerAdminError passes."""
    device = service.get_device(db_session=db_session, device_id=device_id)
    if device.status == DeviceStatus.revoked:
        raise ConflictError(f"device {device_id} is revoked", code="device_revoked")
    account = admin.reset_password(device_id)
    if account is None:
        raise ConflictError(
            "the hub runs without broker accounts (GRIDLINK_BROKER_ACCOUNTS=none): "
            "there is no password to reset",
            code="no_broker_accounts",
        )
    logger.info("%s: broker password reset", device_id)
    return account


def disable_account(
    *, db_session: Session, device: Device, admin: BrokerAdmin, clock: Clock
) -> bool:
    """Disable a revoked device's broker account (dropping its live session) unless already
    done; True when it is disabled. False: no broker accounts. BrokerAdminError passes (the
    supervision pass retries). Commits the time it was disabled."""
    if device.broker_disabled_at is not None:
        return True
    if not admin.disable_device(device.id):
        return False
    device.broker_disabled_at = clock.now()
    db_session.commit()
    logger.info("%s: broker account disabled, its session dropped", device.id)
    return True


class BrokerDisableRetry:
    """The supervision pass for revoked devices whose broker account is still enabled.

    Each device's failure is logged once (again only when the broker's message changes) and
    its success once, so a broker that stays down does not flood the log.
    """

    def __init__(self, admin: BrokerAdmin) -> None:
        self.admin = admin
        self._failing: dict[str, str] = {}

    def run(self, *, db_session: Session, clock: Clock) -> int:
        """One pass; returns how many accounts it disabled. Commits each success."""
        pending = list(
            db_session.scalars(
                select(Device)
                .where(
                    Device.status == DeviceStatus.revoked.value,
                    Device.broker_disabled_at.is_(None),
                )
                .order_by(Device.id)
            )
        )
        done = 0
        for device in pending:
            try:
                if not disable_account(
                    db_session=db_session, device=device, admin=self.admin, clock=clock
                ):
                    continue
            except BrokerAdminError as exc:
                message = str(exc)
                if self._failing.get(device.id) != message:
                    logger.warning("%s: disabling the broker account failed: %s", device.id, exc)
                    self._failing[device.id] = message
                continue
            if self._failing.pop(device.id, None) is not None:
                logger.info("%s: broker account disabled after earlier failures", device.id)
            done += 1
        return done


def on_heartbeat(*, db_session: Session, event: dict[str, Any], **_: Any) -> None:
    """A stored heartbeat (live or replayed): its battery, outbox backlog and free flash go on
    the device when it is the newest one the hub holds (``service.record_heartbeat``)."""
    body = event.get("body")
    if not isinstance(body, dict):
        return
    taken_at = datetime.fromtimestamp(int(event["ts"]), tz=UTC)
    service.record_heartbeat(
        db_session=db_session, device_id=str(event["device_id"]), body=body, taken_at=taken_at
    )
