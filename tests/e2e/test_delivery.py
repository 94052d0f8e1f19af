"""Zero loss by default (DESIGN.md section 3, issue 8): one handheld with the default device
config (trim on the hub's signed receipt, flush only while the hub is online) streams 2,000
small events through Mosquitto (persistence on) to the hub running as its own process
(``gridlink hub run`` / ``gridlink hub ingest``), and the hub or the broker fails at event ~700:

- the hub is SIGKILLed and restarted,
- Mosquitto is restarted,
- one of two ingest processes on the shared subscription is SIGKILLed (and restarted by its
  supervisor, under the same client id).

Each time exactly 2,000 events are stored, seq 1..2000 once each, the hash chain unbroken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.db import make_engine, make_session_factory
from hub.events.models import Event
from hub.ingest import runner
from simulator import Fleet, scenarios
from simulator.fleet import SimDevice
from tests.e2e.hubproc import HubProcess
from tests.support.hub import Hub
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import device_state, wait_until

GRID = "33010200100101"
DEV = "hh-stream"
N = 2000
FAIL_AT = 700
EVERY_MS = 3  # between events: the upload (a PUBACK round trip each) keeps pace with signing


@pytest.fixture
def stored(hub: Hub) -> Iterator[Callable[[], int]]:
    """How many events of the device the hub has stored (a COUNT on its database)."""
    engine = make_engine(hub.settings.database_url)
    factory = make_session_factory(engine)

    def count() -> int:
        with factory() as s:
            stmt = select(func.count()).select_from(Event).where(Event.device_id == DEV)
            return int(s.scalar(stmt) or 0)

    yield count
    engine.dispose()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[HubProcess]]:
    started: list[HubProcess] = []
    yield started
    for proc in started:
        proc.kill()


def _hub_process(hub: Hub, procs: list[HubProcess], tmp_path: Path, mode: str, **kw: str):
    proc = HubProcess(hub.settings, tmp_path / "hubproc", mode, **kw)
    procs.append(proc)
    return proc


def _stream_device(hub: Hub, fleet: Fleet) -> SimDevice:
    """The default device config (nothing about delivery overridden), heartbeat and patrol
    track off so the stream is exactly seq 1..N. Speed only: a 4 MB heap without the early
    collections, events 3 ms apart, so the 2,000 events take ~40 s here (~11 ms to sign each,
    one PUBACK round trip to upload, a receipt verified at most every 0.5 s); the heap is
    tested by tests/hil and bench."""
    dev = fleet.add_handheld(
        DEV,
        GRID,
        scenario=scenarios.stream(N, every_ms=EVERY_MS),
        heapsize="4M",
        gc_threshold=0,
        heartbeat_s=0,
        track_s=0,
    )
    assert "trim_on" not in dev.config and "require_hub" not in dev.config
    hub.register(dev)
    return dev


def _take_over_from_the_fixture(hub: Hub) -> None:
    """The fixture's in-process ingest stops; the hub process takes its place under the same
    client id (``gridlink-<hostname>-0``), so no second member joins the share group."""
    hub.stop_ingest()


def _finish(hub: Hub, dev: SimDevice, stored: Callable[[], int], procs: list[HubProcess]):
    def detail() -> str:
        logs = "\n".join(p.log()[-1500:] for p in procs)
        return f"{stored()} of {N} stored\n{dev.log()[-1500:]}\n{logs}"

    wait_until(f"{N} events stored", lambda: stored() >= N, 300, 0.5, detail)
    _phase(f"{N} stored")
    assert dev.wait(60) == 0, dev.log()[-3000:]  # the device emptied its outbox on receipts
    _phase("device done")
    events = hub.assert_chain(DEV, N)  # seq 1..N once each, linked, no break, no open gap
    assert len(events) == N
    assert hub.errors() == {}
    assert "MemoryError" not in dev.log()


_T0 = [0.0]


def _phase(what: str) -> None:
    """One line per phase with the seconds since the device started (in the test's output)."""
    print(f"  {time.monotonic() - _T0[0]:6.1f} s  {what}")


def _at_event(stored: Callable[[], int], dev: SimDevice, n: int = FAIL_AT) -> None:
    _T0[0] = time.monotonic()
    wait_until(f"{n} events stored", lambda: stored() >= n, 120, 0.05, lambda: dev.log()[-2000:])
    _phase(f"{stored()} stored, {device_state(dev).get('seq', 0)} signed")


def _device_went_on(dev: SimDevice, since: int, more: int = 200) -> None:
    """Wait until the device signed ``more`` events after ``since`` (outage under way)."""
    want = since + more
    wait_until(f"{more} more events signed", lambda: device_state(dev).get("seq", 0) >= want)
    _phase(f"{more} more signed")


def test_hub_killed_mid_stream_and_restarted_loses_nothing(
    hub: Hub, fleet: Fleet, stored: Callable[[], int], procs: list[HubProcess], tmp_path: Path
) -> None:
    _take_over_from_the_fixture(hub)
    proc = _hub_process(hub, procs, tmp_path, "run").start()
    dev = _stream_device(hub, fleet).start()
    _at_event(stored, dev)
    proc.kill()
    at_kill = stored()
    _device_went_on(dev, at_kill)
    proc.start()
    _finish(hub, dev, stored, procs)
    print(f"hub SIGKILLed at {at_kill} stored")


def test_broker_restarted_mid_stream_loses_nothing(
    hub: Hub,
    fleet: Fleet,
    broker: Mosquitto,
    stored: Callable[[], int],
    procs: list[HubProcess],
    tmp_path: Path,
) -> None:
    assert broker.persistence  # the documented deployment
    _take_over_from_the_fixture(hub)
    _hub_process(hub, procs, tmp_path, "run").start()
    dev = _stream_device(hub, fleet).start()
    _at_event(stored, dev)
    broker.restart()
    print(f"broker restarted at {stored()} stored")
    _finish(hub, dev, stored, procs)


def test_one_of_two_ingest_workers_killed_mid_stream_loses_nothing(
    hub: Hub, fleet: Fleet, stored: Callable[[], int], procs: list[HubProcess], tmp_path: Path
) -> None:
    _take_over_from_the_fixture(hub)
    default_id = runner.client_id_prefix(hub.settings)
    a = _hub_process(hub, procs, tmp_path, "ingest", client_id=default_id).start()
    _hub_process(hub, procs, tmp_path, "ingest", client_id="gridlink-b").start()
    dev = _stream_device(hub, fleet).start()
    _at_event(stored, dev)
    a.kill()
    at_kill = stored()
    _device_went_on(dev, at_kill)
    a.start()  # its supervisor restarts it: the broker kept its session and queued its share
    _finish(hub, dev, stored, procs)
    print(f"ingest worker A SIGKILLed at {at_kill} stored")
