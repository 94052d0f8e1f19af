"""Gates through the hub's ingest: an access batch fills the access log and opens cases for
its alarms (live ones dispatched now, historical ones filed from capture time and never a live
alarm); births, heartbeats and list-sync acks keep each gate's list version, and the
dispatcher queues the sync a gate that is behind needs, one part at a time."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.access import lists
from hub.access.models import AccessLogEntry, DeviceListVersion
from hub.access.people import put_person
from hub.access.schemas import PersonPut
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.commands.dispatcher import Dispatcher
from hub.commands.models import Command
from hub.ingest.processor import Processor
from hub.keys import HubKey
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from protocol import command, envelope, topics
from tests.builders.devices import TestDevice

COMMUNITY = "330102001001"
GRID = "33010200100101"


def _batch(dev: TestDevice, events: list[dict], ts: int, hist: bool = False) -> tuple[str, bytes]:
    dev.seq += 1
    body = {"community": COMMUNITY, "events": events}
    env = envelope.build(dev.device_id, dev.seq, ts, "access", body, (), dev.prev, hist)
    data = envelope.seal(env, dev.seed)
    dev.prev = envelope.digest(data)
    return topics.evt(dev.device_id, "access"), data


def _gate(db_session: Session, device_factory: Callable[..., TestDevice], name: str) -> TestDevice:
    dev = device_factory(name, kind="access")
    dev.register(db_session, GRID)
    db_session.commit()
    return dev


def test_alarms_become_cases_live_now_historical_from_capture_time(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = _gate(db_session, device_factory, "acc-alarm")
    now = int(clock.now().timestamp())
    granted = {
        "ev": "granted",
        "ts": now - 2,
        "ms": 5,
        "door": "d1",
        "dir": "in",
        "by": "card",
        "person": "p-1",
        "cred": "04A1B2C3",
        "blob": None,
        "lat_ms": 4,
    }
    forced = {"ev": "door_forced", "ts": now - 1, "ms": 0, "door": "d1"}
    held = {"ev": "door_held", "ts": now - 1, "ms": 0, "door": "d1"}  # an alarm, not a case
    live = _batch(dev, [granted, forced, held], now)
    old = now - 3 * 3600
    help_old = {"ev": "help", "ts": old, "ms": 0}
    offline = _batch(dev, [granted | {"ts": old}, help_old], now, hist=True)
    result = processor.process([Inbound(*live), Inbound(*offline), Inbound(*live)])
    assert (result.stored, result.duplicates) == (2, 1)

    rows = db_session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id)).all()
    assert [(r.seq, r.idx, r.ev, r.historical) for r in rows] == [
        (1, 0, "granted", False),
        (1, 1, "door_forced", False),
        (1, 2, "door_held", False),
        (2, 0, "granted", True),
        (2, 1, "help", True),
    ]
    cases = db_session.scalars(select(Case).order_by(Case.id)).all()
    assert [(c.source, c.category_code, c.historical) for c in cases] == [
        ("alarm", "access_door_forced", False),
        ("alarm", "access_help", True),
    ]
    office = demo.units["Qinghefang Community office"]
    assert all(c.unit_id == office and c.status == "dispatched" for c in cases), [
        (c.status, c.unit_id) for c in cases
    ]
    forced_case, help_case = cases
    assert forced_case.access_event_id == rows[1].id
    assert forced_case.deadline_start_at == clock.now()  # live: from now
    assert help_case.deadline_start_at is not None
    assert abs(help_case.deadline_start_at.timestamp() - old) < 1  # from capture time
    assert help_case.reported_at.timestamp() == old


def test_a_malformed_batch_is_kept_as_an_event_and_opens_nothing(
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = _gate(db_session, device_factory, "acc-bad")
    now = int(clock.now().timestamp())
    bad = _batch(dev, [{"ev": "door_forced", "ts": "soon"}], now)
    good = _batch(dev, [{"ev": "door_forced", "ts": now, "ms": 0, "door": "d2"}], now)
    result = processor.process([Inbound(*bad), Inbound(*good)])
    assert result.stored == 2  # the signed envelope is evidence either way
    assert [r.seq for r in db_session.scalars(select(AccessLogEntry))] == [2]
    assert db_session.scalar(select(Case.access_event_id)) is not None


def _version(session_factory: sessionmaker[Session], device_id: str) -> int | None:
    with session_factory() as s:
        row = s.get(DeviceListVersion, device_id)
        return None if row is None else row.version


def _people(db_session: Session, clock: FrozenClock, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        put_person(
            db_session=db_session,
            community=COMMUNITY,
            person_id=f"p-{i}",
            data=PersonPut(cards=[f"C{i:06d}"], pins=[hashlib.sha256(b"pin:%d" % i).hexdigest()]),
            at=clock.now(),
        )
    db_session.commit()


def test_list_sync_follows_the_reported_version_part_by_part(
    processor: Processor,
    session_factory: sessionmaker[Session],
    db_session: Session,
    clock: FrozenClock,
    hub_key: HubKey,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = _gate(db_session, device_factory, "acc-sync")
    _people(db_session, clock, 400)
    current = lists.current_version(db_session=db_session, community=COMMUNITY)
    dispatcher = Dispatcher(session_factory, hub_key, clock=clock, retry_interval_s=10)
    assert dispatcher.tick() == []  # offline, and no version reported yet

    topic, birth = dev.birth()
    birth = command.seal_state(dev.device_id, True, dev.session, dev.now(), dev.seed, lists=0)
    processor.process([Inbound(topic, birth)])
    assert _version(session_factory, dev.device_id) == 0
    guard = command.CommandGuard(hub_key.public_key, dev.device_id)
    sent = dispatcher.tick()
    assert len(sent) == 1  # one part in flight
    first = guard.check(sent[0].payload, dev.now())
    assert first["op"] == "list_sync" and first["args"]["mode"] == "full"
    parts = first["args"]["parts"]
    assert parts > 1 and first["args"]["version"] == current
    with session_factory() as s:
        queued = s.scalars(select(Command).where(Command.op == "list_sync")).all()
        assert len(queued) == parts  # queued once, not again on the next pass
    assert dispatcher.tick() == []

    # the gate stages each part; the last applies
    cmd = first
    for i in range(1, parts + 1):
        assert cmd["args"]["part"] == i
        detail = f"applied {current}" if i == parts else f"staged {i}/{parts}"
        processor.process([Inbound(*dev.ack(cmd, "succeeded", detail))])
        nxt = dispatcher.tick()
        if i < parts:
            cmd = guard.check(nxt[0].payload, dev.now())
    assert _version(session_factory, dev.device_id) == current
    assert dispatcher.tick() == []  # in step

    # a change: a delta from the gate's version
    _people(db_session, clock, 3, start=1000)
    clock.advance(timedelta(seconds=5))
    sent = dispatcher.tick()
    delta = guard.check(sent[0].payload, dev.now())
    assert (delta["args"]["mode"], delta["args"]["base"]) == ("delta", current)
    assert len(delta["args"]["entries"]) == 3
    # the gate was not where the hub thought: it says so, the sync stops and starts over
    processor.process([Inbound(*dev.ack(delta, "failed", "SyncError: base_mismatch 7"))])
    assert _version(session_factory, dev.device_id) == 7
    again = guard.check(dispatcher.tick()[0].payload, dev.now())
    assert (again["args"]["mode"], again["args"]["base"]) == ("delta", 7)

    # a heartbeat reports the version too; a historical one is stale and ignored
    processor.process([Inbound(*dev.event("heartbeat", {"lists": 5}))])
    assert _version(session_factory, dev.device_id) == 5


def test_a_retried_part_refused_as_replayed_after_its_answer_stops_nothing(
    processor: Processor,
    session_factory: sessionmaker[Session],
    db_session: Session,
    clock: FrozenClock,
    hub_key: HubKey,
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    """A slow gate answers part 1 after the hub's retry went out: it ran the part once and
    refuses the retry as replayed. The part keeps its first answer and the sync goes on."""
    dev = _gate(db_session, device_factory, "acc-retry")
    _people(db_session, clock, 400)
    dispatcher = Dispatcher(session_factory, hub_key, clock=clock, retry_interval_s=10)
    birth = command.seal_state(dev.device_id, True, dev.session, dev.now(), dev.seed, lists=0)
    processor.process([Inbound(topics.state(dev.device_id), birth)])
    guard = command.CommandGuard(hub_key.public_key, dev.device_id)
    first = guard.check(dispatcher.tick()[0].payload, dev.now())
    parts = first["args"]["parts"]
    assert parts > 1
    clock.advance(timedelta(seconds=11))
    (retry,) = dispatcher.tick()  # no answer yet: the same sealed part again
    processor.process([Inbound(*dev.ack(first, "succeeded", f"staged 1/{parts}"))])
    nxt = dispatcher.tick()
    processor.process([Inbound(*dev.ack(first, "refused", "replayed"))])  # the retry's answer
    with session_factory() as s:
        syncs = s.scalars(
            select(Command).where(Command.op == "list_sync").order_by(Command.cseq)
        ).all()
        assert [c.status for c in syncs[:2]] == ["succeeded", "sent"]
        assert all(c.status == "queued" for c in syncs[2:]), [c.status for c in syncs]
        assert syncs[0].detail == f"staged 1/{parts}"
    assert guard.check(nxt[0].payload, dev.now())["args"]["part"] == 2
    assert retry.payload  # (the retry itself was sent)


def test_the_retained_birth_again_after_a_hub_restart_reports_no_stale_version(
    processor: Processor,
    session_factory: sessionmaker[Session],
    db_session: Session,
    device_factory: Callable[..., TestDevice],
) -> None:
    """The birth said lists 0; a sync then brought the gate to 600 (its ack said so). When
    the hub subscribes again the broker hands it that retained birth once more: the version
    stays 600 (else the hub would send a full snapshot to a gate that needs a delta)."""
    dev = _gate(db_session, device_factory, "acc-rebirth")
    birth = command.seal_state(dev.device_id, True, dev.session, dev.now(), dev.seed, lists=0)
    processor.process([Inbound(topics.state(dev.device_id), birth)])
    assert _version(session_factory, dev.device_id) == 0
    processor.process([Inbound(*dev.event("heartbeat", {"lists": 600}))])
    assert _version(session_factory, dev.device_id) == 600
    processor.process([Inbound(topics.state(dev.device_id), birth)])  # retained, again
    assert _version(session_factory, dev.device_id) == 600
    # a new session's birth is news
    dev.session += 1
    birth = command.seal_state(dev.device_id, True, dev.session, dev.now(), dev.seed, lists=7)
    processor.process([Inbound(topics.state(dev.device_id), birth)])
    assert _version(session_factory, dev.device_id) == 7
