"""Commands without a broker: the dispatcher's expiry, retries and time-out; enqueue checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.commands import service
from hub.commands.dispatcher import Dispatcher
from hub.commands.models import Command
from hub.devices.service import revoke_device
from hub.errors import ConflictError, InvalidInputError
from hub.keys import HubKey
from tests.builders.devices import TestDevice


def _status(session_factory: sessionmaker[Session], cmd_id: str) -> str:
    with session_factory() as s:
        cmd = s.get(Command, cmd_id)
        assert cmd is not None
        return cmd.status


def test_expiry_retries_and_time_out(
    session_factory: sessionmaker[Session],
    db_session: Session,
    clock: FrozenClock,
    hub_key: HubKey,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-retry")
    device = dev.register(db_session)
    short = service.enqueue(
        db_session=db_session,
        device_id="hh-retry",
        op="reboot",
        args={},
        lifetime_s=60,
        clock=clock,
    )
    db_session.commit()
    dispatcher = Dispatcher(
        session_factory, hub_key, clock=clock, retry_interval_s=10, max_retries=2
    )
    assert dispatcher.tick() == []  # offline
    clock.advance(seconds=61)
    assert dispatcher.tick() == []
    assert _status(session_factory, short.id) == "expired"

    device.online = True
    long = service.enqueue(
        db_session=db_session, device_id="hh-retry", op="ping", args={}, clock=clock
    )
    db_session.commit()
    sent = dispatcher.tick()
    assert [o.topic for o in sent] == ["gl/v1/hh-retry/cmd"]
    assert dispatcher.tick() == []  # not due yet
    for _ in range(2):
        clock.advance(seconds=11)
        again = dispatcher.tick()
        assert [o.payload for o in again] == [sent[0].payload]  # the same signed bytes
    clock.advance(seconds=11)
    assert dispatcher.tick() == []
    assert _status(session_factory, long.id) == "timed_out"


def test_enqueue_validation(
    db_session: Session, clock: FrozenClock, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("gate-1", kind="access")
    dev.register(db_session)
    db_session.commit()
    with pytest.raises(InvalidInputError):
        service.enqueue(db_session=db_session, device_id="gate-1", op="task", args={}, clock=clock)
    cmd = service.enqueue(
        db_session=db_session, device_id="gate-1", op="open", args={"door": 1}, clock=clock
    )
    revoke_device(db_session=db_session, device_id="gate-1", clock=clock)
    assert service.cancel_open(db_session=db_session, device_id="gate-1", detail="revoked") == 1
    with pytest.raises(ConflictError):
        service.enqueue(db_session=db_session, device_id="gate-1", op="open", args={}, clock=clock)
    assert cmd.cseq == 1
    clock.advance(timedelta(seconds=1))
