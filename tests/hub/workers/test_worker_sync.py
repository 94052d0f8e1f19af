"""hub.commands.worker_sync: which handhelds get their grid's worker list, and when again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Worker, WorkerGrid
from hub.clock import FrozenClock
from hub.commands import worker_sync
from hub.commands.models import Command, CommandStatus
from hub.devices.models import Device
from hub.errors import ConflictError
from hub.seed import DemoData
from hub.workers import flows, pins, roster
from hub.workers.models import DeviceWorkerList
from tests.builders.devices import TestDevice

GRID = "33010200100101"
W, A = "w00100101", "a0010101"


def _online(db_session: Session, dev: TestDevice) -> None:
    device = db_session.get(Device, dev.device_id)
    assert device is not None
    device.online = True
    db_session.flush()


def _lists(db_session: Session, device_id: str) -> list[Command]:
    return list(db_session.scalars(
        select(Command).where(Command.device_id == device_id, Command.op == "workers")
        .order_by(Command.cseq)))  # fmt: skip


def _ack(db_session: Session, clock: FrozenClock, cmd: Command, status: str, detail: str) -> None:
    cmd.status = status
    cmd.detail = detail
    body = {"id": cmd.id, "status": status, "detail": detail}
    event = {"device_id": cmd.device_id, "body": body}
    worker_sync.on_ack(db_session=db_session, clock=clock, event=event)


def test_lists_go_out_once_the_hub_keeps_pins_and_again_on_every_change(
    db_session: Session,
    demo: DemoData,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-sync")
    dev.register(db_session, GRID)
    _online(db_session, dev)
    # no PIN on the hub for the grid, none ever sent: the provisioned list stands
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == []
    pins.set_pin(db_session=db_session, worker_id=W, pin="2580", iterations=1000, clock=clock,
                 by="test")  # fmt: skip
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == [dev.device_id]
    (cmd,) = _lists(db_session, dev.device_id)
    assert cmd.args["grid"] == GRID and set(cmd.args["workers"]) == {W}
    salt, n, digest = cmd.args["workers"][W]
    assert n == 1000 and len(salt) == 32 and len(digest) == 64
    # under way: nothing more; applied: nothing more
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == []
    _ack(db_session, clock, cmd, CommandStatus.succeeded.value, f"applied {cmd.args['v']}")
    assert db_session.get(DeviceWorkerList, dev.device_id).version == cmd.args["v"]  # type: ignore[union-attr]
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == []
    # the assistant gets a PIN: a new list with both
    pins.set_pin(db_session=db_session, worker_id=A, pin="1357", iterations=1000, clock=clock,
                 by="test")  # fmt: skip
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == [dev.device_id]
    second = _lists(db_session, dev.device_id)[-1]
    assert set(second.args["workers"]) == {W, A} and second.args["v"] != cmd.args["v"]
    _ack(db_session, clock, second, CommandStatus.succeeded.value, f"applied {second.args['v']}")
    # deactivated and unlinked: they leave the list, down to an empty one
    worker = db_session.get(Worker, A)
    assert worker is not None
    worker.active = False
    link = db_session.get(WorkerGrid, (W, GRID))
    db_session.delete(link)
    db_session.flush()
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == [dev.device_id]
    third = _lists(db_session, dev.device_id)[-1]
    assert third.args["workers"] == {}
    # a handheld that refuses a list is not sent the same one again
    _ack(db_session, clock, third, CommandStatus.failed.value, "ValueError: workers: list for grid")
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == []
    # its heartbeats (still naming the list it holds) do not bring the refused one back
    beat = {"device_id": dev.device_id, "body": {"battery": 90, "workers": second.args["v"]}}
    flows.on_heartbeat(db_session=db_session, event=beat, clock=clock)
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == []
    # a command refused unread (expired, replayed) is no refusal of the list: sent again
    link = WorkerGrid(worker_id=W, grid_code=GRID)
    db_session.add(link)
    db_session.flush()
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == [dev.device_id]
    fourth = _lists(db_session, dev.device_id)[-1]
    _ack(db_session, clock, fourth, CommandStatus.refused.value, "expired")
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == [dev.device_id]
    # the same list always has the same version, another list another
    assert roster.version_of(GRID, {}) == third.args["v"]
    assert roster.version_of("33010200100102", {}) != third.args["v"]


def test_offline_revoked_and_gate_devices_get_no_list(
    db_session: Session,
    demo: DemoData,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    pins.set_pin(db_session=db_session, worker_id=W, pin="2580", iterations=1000, clock=clock,
                 by="test")  # fmt: skip
    off = device_factory("hh-off")
    off.register(db_session, GRID)
    gate = device_factory("gate-1", kind="access")
    gate.register(db_session, GRID)
    _online(db_session, gate)
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == []
    _online(db_session, off)
    clock.advance(timedelta(seconds=1))
    assert worker_sync.reconcile(db_session=db_session, clock=clock) == ["hh-off"]


def test_a_grid_takes_at_most_32_workers_with_a_pin(
    db_session: Session, demo: DemoData, clock: FrozenClock
) -> None:
    for i in range(roster.MAX_WORKERS):
        db_session.add(Worker(id=f"x{i:02d}", name=f"x{i}", created_at=clock.now()))
        db_session.add(WorkerGrid(worker_id=f"x{i:02d}", grid_code=GRID))
    db_session.flush()
    for i in range(roster.MAX_WORKERS):
        pins.set_pin(db_session=db_session, worker_id=f"x{i:02d}", pin="2580", iterations=1000,
                     clock=clock, by="test")  # fmt: skip
    with pytest.raises(ConflictError, match="already has 32 workers with a PIN"):
        pins.set_pin(db_session=db_session, worker_id=W, pin="2580", iterations=1000,
                     clock=clock, by="test")  # fmt: skip
    # a worker leaving makes room
    worker = db_session.get(Worker, "x00")
    assert worker is not None
    worker.active = False
    db_session.flush()
    pins.set_pin(db_session=db_session, worker_id=W, pin="2580", iterations=1000, clock=clock,
                 by="test")  # fmt: skip
