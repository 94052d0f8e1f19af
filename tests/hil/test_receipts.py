"""Hub receipts (DESIGN.md section 3): with config "trim_on": "receipt" a device keeps every
sent record after the broker's PUBACK until a verified receipt from the real hub covers its
seq, and re-sends what no receipt covers after a reconnect / the hub coming back online.

The loss is made real: the hub's ingest worker is stopped (nobody subscribed, so the broker
PUBACKs the device's events and drops them), then Mosquitto is restarted WITHOUT persistence
(whatever it still held is gone too), then the ingest worker starts again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.devices.models import Device, DeviceKind
from hub.devices.schemas import DeviceCreate
from hub.devices.service import register_device
from hub.events.models import ChainGap, ChainGapKind, ChainStatus, Event
from hub.ingest import runner
from hub.keys import load_or_create
from hub.migrations.runner import upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from protocol import topics
from simulator import Fleet, scenarios
from tests.support.mosquitto import Mosquitto
from tests.support.mosquitto import Subscriber as Tap

pytestmark = pytest.mark.hil

GRID = "33010200100101"
DEV = "hh-trim"


def _wait(what: str, probe: Callable[[], object], timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def plain_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "broker", persistence=False) as mosq:
        yield mosq


@pytest.fixture
def settings(tmp_path: Path, plain_broker: Mosquitto) -> Settings:
    s = Settings(
        data_dir=tmp_path / "hub",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        mqtt_host=plain_broker.host,
        mqtt_port=plain_broker.port,
    )
    upgrade(s.database_url)
    engine = make_engine(s.database_url)
    with session_scope(make_session_factory(engine)) as db:
        seed_demo(db_session=db, clock=SystemClock())
    engine.dispose()
    return s


class HubDb:
    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings.database_url)
        self.factory = make_session_factory(self.engine)

    def register(self, dev_id: str, public_key_hex: str) -> None:
        with session_scope(self.factory) as db:
            register_device(
                db_session=db,
                data=DeviceCreate(
                    id=dev_id, kind=DeviceKind.handheld, public_key=public_key_hex, grid_code=GRID
                ),
                clock=SystemClock(),
            )

    def events(self, dev_id: str) -> list[tuple[int, int, str]]:
        """(row id, seq, chain status) in storage order."""
        with self.factory() as db:
            rows = db.execute(
                select(Event.id, Event.seq, Event.chain)
                .where(Event.device_id == dev_id)
                .order_by(Event.id)
            ).all()
            return [(r[0], r[1], r[2]) for r in rows]

    def last_seq(self, dev_id: str) -> int:
        with self.factory() as db:
            dev = db.get(Device, dev_id)
            return dev.last_seq if dev is not None else 0

    def broken(self, dev_id: str) -> list:
        with self.factory() as db:
            return list(
                db.scalars(
                    select(ChainGap).where(
                        ChainGap.device_id == dev_id,
                        (ChainGap.kind == ChainGapKind.broken.value)
                        | ChainGap.resolved_at.is_(None),
                    )
                )
            )

    def close(self) -> None:
        self.engine.dispose()


def _outbox(dev) -> list[str]:
    d = dev.flash_dir / "outbox"
    return sorted(p.name for p in d.iterdir() if p.name.startswith("e")) if d.exists() else []


def test_events_lost_after_puback_are_resent_and_stored_once(tmp_path, plain_broker, settings):
    t0 = time.monotonic()
    db = HubDb(settings)
    ingest = runner.start(settings)
    key = load_or_create(settings.hub_key_path)
    fleet = Fleet(plain_broker.host, plain_broker.port, root=tmp_path / "fleet", hub_seed=key.seed)
    tap = Tap(plain_broker, topics=(topics.ack(DEV),)).start()
    try:
        dev = fleet.add_handheld(
            DEV,
            GRID,
            scenario=scenarios.idle(600),
            trim_on="receipt",
            heartbeat_s=3600,
            track_s=3600,
            exit_when_done=False,
        )
        db.register(DEV, dev.public_key_hex)
        dev.start()
        # signin + heartbeat stored, and the receipts emptied the outbox
        _wait(
            "the first events stored and receipted",
            lambda: (
                db.last_seq(DEV) >= 2
                and dev.state().get("seq") == db.last_seq(DEV)
                and not _outbox(dev)
            ),
        )
        before = db.last_seq(DEV)

        # the hub stops storing: the broker still PUBACKs the device's acks (the tap sees
        # them), drops them for want of a hub subscriber, and the device keeps them
        ingest.stop()
        for _ in range(3):
            tap.c.publish(topics.cmd(DEV), fleet.command(DEV, "ping"), qos=1).wait_for_publish(5)
        _wait("3 acks through the broker", lambda: len(tap.all) >= 3, 20)
        _wait("3 acks signed", lambda: dev.state().get("seq") == before + 3)
        time.sleep(0.5)
        assert len(_outbox(dev)) == 3, "PUBACK'd records must stay until a receipt covers them"
        assert db.last_seq(DEV) == before

        # the broker loses everything it held; the device reconnects and re-sends into the
        # void (still no hub), then the hub comes back: its retained online state makes the
        # device send everything uncovered once more
        session = dev.state()["session"]
        plain_broker.restart()
        _wait("the device to reconnect", lambda: dev.state().get("session", 0) > session)
        time.sleep(1.5)
        assert len(_outbox(dev)) == 3
        ingest = runner.start(settings)
        t_back = time.monotonic()
        n = before + 3
        _wait("the lost events stored", lambda: db.last_seq(DEV) == n, 60)
        _wait("the outbox emptied by receipts", lambda: not _outbox(dev), 30)
        resend_s = time.monotonic() - t_back

        rows = db.events(DEV)
        seqs = [r[1] for r in rows]
        assert seqs == list(range(1, n + 1)), seqs  # each stored once, in seq order
        assert all(r[2] == ChainStatus.linked.value for r in rows), rows
        assert db.broken(DEV) == []
        assert dev.running, dev.log()[-3000:]
        assert "MemoryError" not in dev.log()
        print(f"resent and receipted in {resend_s:.1f} s, test {time.monotonic() - t0:.1f} s")
    finally:
        tap.c.loop_stop()
        tap.c.disconnect()
        fleet.cleanup()
        ingest.stop()
        db.close()
