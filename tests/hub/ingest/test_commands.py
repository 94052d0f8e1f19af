"""Commands through the worker: queue -> sent when the device is online -> ack recorded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.commands import service
from hub.commands.models import Command
from hub.ingest.worker import IngestWorker
from hub.keys import HubKey
from protocol import command, topics
from protocol.errors import ProtocolError
from tests.builders.devices import TestDevice
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


def _status(session_factory: sessionmaker[Session], cmd_id: str) -> str:
    with session_factory() as s:
        cmd = s.get(Command, cmd_id)
        assert cmd is not None
        return cmd.status


def test_command_sent_when_online_and_acks_recorded(
    start_worker: Callable[..., IngestWorker],
    wire_factory: Callable[..., MqttObserver],
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
    wait_until("the task queued", lambda: _status(session_factory, task.id) == "queued", timeout=1)
    assert wire.messages(topics.cmd("hh-cmd")) == []  # offline: nothing is sent

    wire.publish(*dev.birth())
    wait_until("the task published", lambda: len(wire.messages(topics.cmd("hh-cmd"))) == 1)
    assert _status(session_factory, task.id) == "sent"
    assert _status(session_factory, ping.id) == "queued"  # one in flight per device
    guard = command.CommandGuard(hub_key.public_key, "hh-cmd")
    now = dev.now()
    first = guard.check(wire.messages(topics.cmd("hh-cmd"))[0], now)
    assert (first["id"], first["op"], first["args"]) == (task.id, "task", {"text": "check drain"})
    wire.publish(*dev.ack(first, "succeeded", "done"))
    # the answer lets the next one go (at once, not at the next dispatch pass)
    wait_until("the ping published", lambda: len(wire.messages(topics.cmd("hh-cmd"))) == 2)
    # the device refuses the ping (here: replayed, as if it had seen cseq 2 already)
    guard.last_cseq = 5
    with pytest.raises(ProtocolError) as refused:
        guard.check(wire.messages(topics.cmd("hh-cmd"))[1], now)
    second = refused.value.cmd
    wire.publish(*dev.ack(second, "refused", refused.value.reason))
    wait_until("the ping refused", lambda: _status(session_factory, ping.id) == "refused")
    with session_factory() as s:
        done = s.get(Command, task.id)
        assert done is not None and done.status == "succeeded" and done.detail == "done"
        assert done.ack is not None and done.acked_at is not None
        assert s.get(Command, ping.id).detail == "replayed"  # type: ignore[union-attr]
    assert second["cseq"] == 2
