"""Commands: queue -> sent when the device is online -> ack recorded; refusals, expiry, retries."""

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
from hub.ingest.worker import IngestWorker
from hub.keys import HubKey
from protocol import command, topics
from protocol.errors import ProtocolError
from tests.builders.devices import TestDevice
from tests.hub.ingest.conftest import Wire, wait_for


def _status(session_factory: sessionmaker[Session], cmd_id: str) -> str:
    with session_factory() as s:
        cmd = s.get(Command, cmd_id)
        assert cmd is not None
        return cmd.status


def test_command_sent_when_online_and_acks_recorded(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., Wire],
    db_session: Session,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    hub_key: HubKey,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-cmd")
    dev.register(db_session)
    task = service.enqueue(
        db_session=db_session,
        device_id="hh-cmd",
        op="task",
        args={"text": "check drain"},
        clock=clock,
    )
    ping = service.enqueue(
        db_session=db_session, device_id="hh-cmd", op="ping", args={}, clock=clock
    )
    db_session.commit()
    assert (task.cseq, ping.cseq) == (1, 2)
    start_worker(dispatch_interval_s=0.1)
    wire = wire_factory(topics.cmd("hh-cmd"))
    wait_for(lambda: _status(session_factory, task.id) == "queued", timeout=1)
    assert wire.messages(topics.cmd("hh-cmd")) == []  # offline: nothing is sent

    wire.publish(*dev.birth())
    wait_for(lambda: len(wire.messages(topics.cmd("hh-cmd"))) == 2)
    assert _status(session_factory, task.id) == "sent"
    guard = command.CommandGuard(hub_key.public_key, "hh-cmd")
    now = dev.now()
    first, second = (guard.check(p, now) for p in wire.messages(topics.cmd("hh-cmd")))
    assert (first["id"], first["op"], first["args"]) == (task.id, "task", {"text": "check drain"})
    wire.publish(*dev.ack(first, "succeeded", "done"))
    # the device refuses the ping (here: replayed, as if it had seen cseq 2 already)
    guard.last_cseq = 5
    with pytest.raises(ProtocolError) as refused:
        guard.check(wire.messages(topics.cmd("hh-cmd"))[1], now)
    wire.publish(*dev.ack(refused.value.cmd, "refused", refused.value.reason))
    wait_for(lambda: _status(session_factory, ping.id) == "refused")
    with session_factory() as s:
        done = s.get(Command, task.id)
        assert done is not None and done.status == "succeeded" and done.detail == "done"
        assert done.ack is not None and done.acked_at is not None
        assert s.get(Command, ping.id).detail == "replayed"  # type: ignore[union-attr]
    assert second["cseq"] == 2


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
