"""Hub receipts (DESIGN.md section 3): with config "trim_on": "receipt" a device keeps every
sent record after the broker's PUBACK until a verified receipt from the real hub covers its
seq, and re-sends what no receipt covers after a reconnect / the hub coming back online.

The loss is made real: the hub's ingest worker is stopped (nobody subscribed, so the broker
PUBACKs the device's events and drops them), then Mosquitto is restarted WITHOUT persistence
(whatever it still held is gone too), then the ingest worker starts again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import topics
from simulator import scenarios
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import device_state, wait_until

pytestmark = pytest.mark.hil

GRID = "33010200100101"
DEV = "hh-trim"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """The shared fixtures' broker, without persistence: a restart loses all it held."""
    with Mosquitto(workdir=tmp_path / "broker", persistence=False) as mosq:
        yield mosq


def _outbox(dev) -> list[str]:
    d = dev.flash_dir / "outbox"
    return sorted(p.name for p in d.iterdir() if p.name.startswith("e")) if d.exists() else []


def _received_acks(broker: Mosquitto, since: int) -> int:
    """PUBLISHes of the device's acks the broker received (its log, from offset ``since``)."""
    return sum(
        1
        for line in broker.log()[since:].splitlines()
        if f"Received PUBLISH from {DEV} " in line and f"'{topics.ack(DEV)}'" in line
    )


def test_events_lost_after_puback_are_resent_and_stored_once(broker, hub, fleet, wire):
    t0 = time.monotonic()
    dev = fleet.add_handheld(
        DEV,
        GRID,
        scenario=scenarios.idle(600),
        trim_on="receipt",
        # sends while the hub is offline, so the broker has something to drop (by default a
        # device holds its outbox until the hub is back, and nothing would be lost)
        require_hub=False,
        heartbeat_s=3600,
        track_s=3600,
        exit_when_done=False,
    )
    hub.register(dev)
    dev.start()
    # signin + heartbeat stored, and the receipts emptied the outbox
    wait_until(
        "the first events stored and receipted",
        lambda: (
            hub.last_seq(DEV) >= 2
            and device_state(dev).get("seq") == hub.last_seq(DEV)
            and not _outbox(dev)
        ),
    )
    before = hub.last_seq(DEV)

    # the hub stops storing: the broker still PUBACKs the device's acks (the wire sees them),
    # drops them for want of a hub, and the device keeps them. One ping at a time: the
    # device reads ack k's PUBACK before ping k+1, so once the 4th ack is out it has seen the
    # PUBACKs of the first three
    hub.stop_ingest()
    for k in range(1, 5):
        wire.publish(topics.cmd(DEV), fleet.command(DEV, "ping"))
        wire.wait(
            f"ack {k} through the broker", lambda k=k: len(wire.matching(topics.ack(DEV))) >= k
        )
    assert device_state(dev).get("seq") == before + 4
    assert len(_outbox(dev)) == 4, "PUBACK'd records must stay until a receipt covers them"
    assert hub.last_seq(DEV) == before

    # the broker loses everything it held; the device reconnects and re-sends into the void
    # (still no hub), then the hub comes back: its retained online state makes the device
    # send everything uncovered once more
    session = device_state(dev)["session"]
    log_at = len(broker.log())
    broker.restart()
    wait_until("the device to reconnect", lambda: dev.state().get("session", 0) > session)
    wait_until("the 4 acks sent into the void again", lambda: _received_acks(broker, log_at) >= 4)
    assert len(_outbox(dev)) == 4
    hub.start_ingest()
    t_back = time.monotonic()
    n = before + 4
    wait_until("the lost events stored", lambda: hub.last_seq(DEV) == n, 60)
    wait_until("the outbox emptied by receipts", lambda: not _outbox(dev))
    resend_s = time.monotonic() - t_back

    events = hub.assert_chain(DEV, n)  # each stored once, linked, no break, no open gap
    assert [e["seq"] for e in events] == list(range(1, n + 1))  # in seq order
    assert hub.errors() == {}
    assert dev.running, dev.log()[-3000:]
    assert "MemoryError" not in dev.log()
    print(f"resent and receipted in {resend_s:.1f} s, test {time.monotonic() - t0:.1f} s")
