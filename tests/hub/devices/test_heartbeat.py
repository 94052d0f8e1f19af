"""``service.record_heartbeat``: one conditional UPDATE, newest heartbeat wins, bad figures are
unknown, and a device already loaded in the session shows what the row now holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.devices.service import record_heartbeat
from tests.builders.devices import TestDevice


def _row(db_session: Session, device_id: str) -> tuple[object, ...]:
    row = db_session.execute(
        select(Device.battery, Device.outbox, Device.storage_free, Device.heartbeat_at).where(
            Device.id == device_id
        )
    ).one()
    return tuple(row)


def test_the_newest_heartbeat_is_kept_and_an_older_one_changes_nothing(
    db_session: Session, device_factory: Callable[..., TestDevice], clock: FrozenClock
) -> None:
    device_factory("hh-hb1").register(db_session)
    db_session.commit()
    t1 = clock.now()
    body = {"battery": 80, "outbox": 3, "storage_free": 1000}
    assert record_heartbeat(db_session=db_session, device_id="hh-hb1", body=body, taken_at=t1)
    assert _row(db_session, "hh-hb1") == (80, 3, 1000, t1)
    older = {"battery": 99, "outbox": 0, "storage_free": 5}
    assert not record_heartbeat(
        db_session=db_session, device_id="hh-hb1", body=older, taken_at=t1 - timedelta(seconds=5)
    )
    assert not record_heartbeat(db_session=db_session, device_id="hh-hb1", body=older, taken_at=t1)
    assert _row(db_session, "hh-hb1") == (80, 3, 1000, t1)
    t2 = t1 + timedelta(seconds=30)
    bad = {"battery": 101, "outbox": True, "storage_free": -1}  # out of bounds, a bool, < 0
    assert record_heartbeat(db_session=db_session, device_id="hh-hb1", body=bad, taken_at=t2)
    assert _row(db_session, "hh-hb1") == (None, None, None, t2)
    assert not record_heartbeat(db_session=db_session, device_id="nobody", body=body, taken_at=t2)


def test_a_device_loaded_in_the_session_shows_the_new_figures(
    db_session: Session, device_factory: Callable[..., TestDevice], clock: FrozenClock
) -> None:
    device_factory("hh-hb2").register(db_session)
    db_session.commit()
    device = db_session.get(Device, "hh-hb2")
    assert device is not None and device.battery is None
    t1 = clock.now()
    body = {"battery": 42, "outbox": 7, "storage_free": 123}
    assert record_heartbeat(db_session=db_session, device_id="hh-hb2", body=body, taken_at=t1)
    assert (device.battery, device.outbox, device.storage_free) == (42, 7, 123)
    assert device.heartbeat_at == t1
