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
from protocol import command
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
    for op, args in [
        ("open", {"door": 1}),
        ("open", {"door": "d1", "ms": 0}),
        ("open", {"door": "d1", "force": True}),
        ("door_mode", {"door": "d1", "mode": "sometimes"}),
        ("time_sync", {"ts": 5}),
        ("enrol", {"person": "p-1"}),  # face terminals only
        ("list_sync", {}),  # the hub's own, from the access lists
    ]:
        with pytest.raises(InvalidInputError):
            service.enqueue(
                db_session=db_session, device_id="gate-1", op=op, args=args, clock=clock
            )
    cmd = service.enqueue(
        db_session=db_session, device_id="gate-1", op="open", args={"door": "d1"}, clock=clock
    )
    assert cmd.args == {"door": "d1", "ms": 3000}
    revoke_device(db_session=db_session, device_id="gate-1", clock=clock)
    assert service.cancel_open(db_session=db_session, device_id="gate-1", detail="revoked") == 1
    with pytest.raises(ConflictError):
        service.enqueue(db_session=db_session, device_id="gate-1", op="open", args={}, clock=clock)
    assert cmd.cseq == 1
    clock.advance(timedelta(seconds=1))


def test_one_command_in_flight_per_device(
    session_factory: sessionmaker[Session],
    db_session: Session,
    clock: FrozenClock,
    hub_key: HubKey,
    device_factory: Callable[..., TestDevice],
) -> None:
    """A device's next command goes out only once the one before has a final answer, so cseqs
    reach it in order even across retries; other devices are not held up."""
    for name in ("gate-a", "gate-b"):
        device_factory(name, kind="access").register(db_session).online = True
    a = [
        service.enqueue(
            db_session=db_session, device_id="gate-a", op="open", args={"door": "d1"}, clock=clock
        )
        for _ in range(3)
    ]
    b = service.enqueue(
        db_session=db_session, device_id="gate-b", op="time_sync", args={}, clock=clock
    )
    db_session.commit()
    dispatcher = Dispatcher(session_factory, hub_key, clock=clock, retry_interval_s=10)
    first = dispatcher.tick()
    assert sorted(o.topic for o in first) == ["gl/v1/gate-a/cmd", "gl/v1/gate-b/cmd"]
    sent_b = next(o for o in first if o.topic == "gl/v1/gate-b/cmd")
    assert command.parse_command(sent_b.payload)["args"] == {"ts": int(clock.now().timestamp())}
    assert dispatcher.tick() == []  # gate-a's first is unanswered
    clock.advance(seconds=11)
    assert [o.payload for o in dispatcher.tick() if o.topic.startswith("gl/v1/gate-a")] == [
        next(o.payload for o in first if o.topic == "gl/v1/gate-a/cmd")
    ]  # a retry of the same command, not the next one
    with session_factory() as s:
        row = s.get(Command, a[0].id)
        assert row is not None
        service.record_ack(
            db_session=s,
            device_id="gate-a",
            body={"id": a[0].id, "status": "succeeded", "detail": "opened d1"},
            raw=b"ack",
            at=clock.now(),
        )
        s.commit()
    nxt = dispatcher.tick()
    assert [command.parse_command(o.payload)["cseq"] for o in nxt] == [a[1].cseq]
    assert _status(session_factory, a[2].id) == "queued"
    assert _status(session_factory, b.id) == "sent"
