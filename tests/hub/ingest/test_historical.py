"""The historical flag and the birth's list version at the hub's ingest: an envelope is stored
historical when the device marked it (``hist``) or it arrived late; a birth's ``lists`` reaches
the ``on_birth`` hook of ``handle_states``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.devices.models import Device
from hub.events.models import Event
from hub.ingest.processor import Processor
from hub.ingest.state import Birth, handle_states
from hub.mqtt_messages import Inbound
from protocol import command, envelope, sealed, topics
from protocol.limits import LIVE_WINDOW_S
from tests.builders.devices import TestDevice

GRID = "33010200100101"
REPORT = {"category": "garbage", "text": "bins", "worker": "w-1"}


def _sealed(dev: TestDevice, kind: str, body: dict, ts: int, hist: bool) -> tuple[str, bytes]:
    """The next envelope of ``dev``, marked historical or not (the builder knows no hist)."""
    dev.seq += 1
    env = envelope.build(dev.device_id, dev.seq, ts, kind, body, (), dev.prev, hist)
    data = envelope.seal(env, dev.seed)
    dev.prev = envelope.digest(data)
    return topics.evt(dev.device_id, kind), data


def test_a_timely_envelope_marked_hist_is_stored_historical_and_files_its_case_as_such(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-hist")
    dev.register(db_session, GRID)
    db_session.commit()
    now = int(clock.now().timestamp())
    late = now - LIVE_WINDOW_S - 1
    msgs = [
        _sealed(dev, "heartbeat", {"n": 1}, now, hist=False),  # live
        _sealed(dev, "heartbeat", {"n": 2}, now, hist=True),  # captured offline, sent at once
        _sealed(dev, "heartbeat", {"n": 3}, late, hist=False),  # late: the existing rule
        _sealed(dev, "report", REPORT, now - 5, hist=True),
        _sealed(dev, "report", REPORT | {"text": "live"}, now - 5, hist=False),
    ]
    result = processor.process([Inbound(t, p) for t, p in msgs])
    assert (result.stored, result.rejected) == (5, 0)
    stored = {e.seq: e.historical for e in db_session.scalars(select(Event))}
    assert stored == {1: False, 2: True, 3: True, 4: True, 5: False}
    raw = db_session.scalars(select(Event.raw).where(Event.seq == 2)).one()
    assert b'"hist":true' in raw  # kept as signed
    cases = {c.event_seq: c for c in db_session.scalars(select(Case))}
    assert cases[4].historical and not cases[5].historical
    assert cases[4].reported_at == clock.now() - timedelta(seconds=5)


def test_hist_other_than_true_is_rejected_malformed_and_stores_nothing(
    processor: Processor, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("hh-hist-bad")
    dev.register(db_session)
    db_session.commit()
    topic, data = dev.event("heartbeat", {"n": 1}, advance=False)
    msgs = []
    for value in (False, 1, "yes"):
        env = dict(envelope.parse(data), hist=value)
        msgs.append(Inbound(topic, sealed.seal(env, dev.seed, envelope.DOMAIN)))
    result = processor.process(msgs)
    assert (result.stored, result.rejected) == (0, 3)
    assert processor.tally.snapshot() == {"malformed": 3}
    assert db_session.scalars(select(Event)).first() is None


def _birth(dev: TestDevice, session: int, lists: object = None, **extra: object) -> Inbound:
    state = {"v": 1, "dev": dev.device_id, "online": True, "session": session, "ts": 1}
    if lists is not None:
        state["lists"] = lists
    state.update(extra)
    return Inbound(topics.state(dev.device_id), sealed.seal(state, dev.seed, b"state"))


def test_a_birth_hands_its_list_version_to_the_birth_hook(
    db_session: Session, clock: FrozenClock, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("fc-gate", kind="face")
    dev.register(db_session)
    db_session.commit()
    rejected: list[tuple[str, str | None, str]] = []
    seen: list[Birth] = []

    def on_birth(s: Session, birth: Birth) -> None:
        seen.append(birth)
        device = s.get(Device, birth.device_id)  # the row is updated before the hook runs
        assert device is not None and device.online and device.session == birth.session

    msgs = [
        Inbound(
            topics.state(dev.device_id),
            command.seal_state(dev.device_id, True, 1, 1, dev.seed, "0.2.0", 42),
        ),
        _birth(dev, 2),  # no lists (a handheld, or firmware before it): None, not 0
        _birth(dev, 3, lists="42"),  # signed, but lists is a string: rejected
        _birth(dev, 4, lists=0),  # version 0: "no list yet"
    ]
    births = handle_states(
        db_session=db_session,
        msgs=[(dev.device_id, m) for m in msgs],
        at=clock.now(),
        reject=lambda *r: rejected.append(r),
        on_birth=on_birth,
    )
    assert births == ["fc-gate", "fc-gate", "fc-gate"]
    assert [(b.session, b.lists, b.firmware) for b in seen] == [
        (1, 42, "0.2.0"),
        (2, None, None),
        (4, 0, None),
    ]
    assert seen[0].at == clock.now()
    assert [(r[0], r[1]) for r in rejected] == [("malformed", "fc-gate")]
    assert "lists must be an integer" in rejected[0][2]


def test_a_failing_birth_hook_never_undoes_the_birth(
    db_session: Session, clock: FrozenClock, device_factory: Callable[..., TestDevice]
) -> None:
    dev = device_factory("fc-hook")
    dev.register(db_session)
    db_session.commit()

    def broken(s: Session, birth: Birth) -> None:
        s.add(Event(device_id="nope"))  # a half-written row, then a crash
        raise RuntimeError("access domain bug")

    births = handle_states(
        db_session=db_session,
        msgs=[("fc-hook", _birth(dev, 7, lists=3))],
        at=clock.now(),
        reject=lambda *r: None,
        on_birth=broken,
    )
    db_session.commit()
    device = db_session.get(Device, "fc-hook")
    assert births == ["fc-hook"] and device is not None and device.online
    assert device.session == 7
