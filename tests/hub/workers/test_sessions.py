"""Sign-in sessions and worker checks from a handheld's signed events, through the ingest
processor: the same sessions and flags whatever order the events arrive in."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.workers import sessions
from hub.workers.models import SigninFailure, WorkerCheck, WorkerSession
from tests.builders.devices import TestDevice

GRID = "33010200100101"
W = "w00100101"  # the grid's worker
A = "a0010101"  # the assistant serving the grid too
OTHER = "w00100201"  # a worker of another grid


def _report(worker: str | None) -> dict:
    return {"category": "garbage", "text": "x", "loc": None, "grid": GRID, "worker": worker,
            "one_key": False}  # fmt: skip


def _stream(dev: TestDevice, t0: int) -> list[tuple[str, bytes]]:
    """seq: 1 signin W, 2 report W, 3 signout, 4 report W (out), 5 wrong PIN for W,
    6 signin A, 7 report W (A is in), 8 signin W (A replaced, no sign-out), 9 report W,
    10 signin OTHER (not on this grid), 11 report OTHER, 12 report nobody."""
    ev = dev.event
    return [
        ev("signin", {"worker": W, "grid": GRID, "ok": True}, ts=t0),
        ev("report", _report(W), ts=t0 + 10),
        ev("signout", {"worker": W, "grid": GRID, "reason": "worker"}, ts=t0 + 100),
        ev("report", _report(W), ts=t0 + 110),
        ev(
            "signin",
            {"worker": W, "grid": GRID, "ok": False, "fails": 1, "locked": False},
            ts=t0 + 115,
        ),  # fmt: skip
        ev("signin", {"worker": A, "grid": GRID, "ok": True}, ts=t0 + 120),
        ev("report", _report(W), ts=t0 + 130),
        ev("signin", {"worker": W, "grid": GRID, "ok": True}, ts=t0 + 140),
        ev("report", _report(W), ts=t0 + 150),
        ev("signin", {"worker": OTHER, "grid": GRID, "ok": True}, ts=t0 + 200),
        ev("report", _report(OTHER), ts=t0 + 210),
        ev("report", _report(None), ts=t0 + 220),
    ]


EXPECTED_SESSIONS = [
    (W, 1, 3, "worker", True, 100),
    (A, 6, 8, "replaced", True, 20),
    (W, 8, 10, "replaced", True, 60),
    (OTHER, 10, None, None, False, None),
]
EXPECTED_CHECKS = {
    2: (W, "signed_in"),
    4: (W, "not_signed_in"),
    7: (W, "not_signed_in"),
    9: (W, "signed_in"),
    11: (OTHER, "not_on_grid"),
    12: (None, "anonymous"),
}


@pytest.mark.parametrize("order", ["in_order", "reversed", "shuffled", "one_by_one_reversed"])
def test_sessions_and_checks_do_not_depend_on_arrival_order(
    order: str,
    processor: Processor,
    db_session: Session,
    demo: DemoData,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-sessions")
    dev.register(db_session, GRID)
    db_session.commit()
    t0 = int(clock.now().timestamp()) - 1000
    msgs = _stream(dev, t0)
    if order == "reversed":
        msgs.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(msgs)
    if order == "one_by_one_reversed":
        for m in reversed(msgs):
            processor.process([Inbound(*m)])
    else:
        processor.process([Inbound(t, p) for t, p in msgs])
    db_session.expire_all()
    got = [
        (
            s.worker_id,
            s.start_seq,
            s.end_seq,
            s.end_reason,
            s.listed,
            None if s.ended_ts is None else s.ended_ts - s.started_ts,
        )  # fmt: skip
        for s in db_session.scalars(select(WorkerSession).order_by(WorkerSession.start_seq))
    ]
    assert got == EXPECTED_SESSIONS
    checks = {
        c.seq: (c.worker_id, c.status)
        for c in db_session.scalars(
            select(WorkerCheck).where(WorkerCheck.device_id == dev.device_id)
        )
    }
    assert checks == EXPECTED_CHECKS
    (failure,) = db_session.scalars(select(SigninFailure)).all()
    assert (failure.seq, failure.worker_id, failure.fails, failure.locked) == (5, W, 1, False)


def test_online_time_is_the_sessions_overlap_and_an_open_one_ends_at_the_last_message(
    processor: Processor,
    db_session: Session,
    demo: DemoData,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-online")
    dev.register(db_session, GRID)
    db_session.commit()
    t0 = int(clock.now().timestamp()) - 7200
    msgs = [
        dev.event("signin", {"worker": W, "grid": GRID, "ok": True}, ts=t0),
        dev.event("signout", {"worker": W, "grid": GRID, "reason": "idle"}, ts=t0 + 1800),
        dev.event("signin", {"worker": A, "grid": GRID, "ok": True}, ts=t0 + 3600),
    ]
    processor.process([Inbound(t, p) for t, p in msgs])
    device = db_session.get(Device, dev.device_id)
    assert device is not None
    device.last_seen = clock.now() - timedelta(seconds=600)  # A's handheld went quiet then
    db_session.commit()
    start = clock.now() - timedelta(hours=3)
    got = sessions.online_seconds(db_session=db_session, start=start, end=clock.now(),
                                  scope_code=None)  # fmt: skip
    assert got == {W: 1800, A: 3600 - 600}
    # a period that cuts the first session in half, and a scope outside the grid
    half = sessions.online_seconds(
        db_session=db_session,
        start=start,
        end=start + timedelta(seconds=3600 + 900),
        scope_code="330102001",
    )
    assert half == {W: 900}
    assert sessions.online_seconds(db_session=db_session, start=start, end=clock.now(),
                                   scope_code="330102002") == {}  # fmt: skip
