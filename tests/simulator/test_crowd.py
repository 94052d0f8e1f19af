"""The crowd runner (simulator/crowd.py): the firmware's own code under CPython, many devices
per process, against the real locked-down Mosquitto and a running hub."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bench.ingest_peers.gridlink import add_grids
from hub.devices.models import Device
from hub.keys import load_or_create
from simulator import Fleet, cpython_port, scenarios
from simulator.crowd import Crowd
from tests.support.hub import Hub
from tests.support.waiting import wait_until

N = 24


def _grids(hub: Hub, n: int) -> list[str]:
    """``n`` new grids (one grid, one handheld)."""

    def add(s):
        codes = add_grids(s, n)
        s.commit()
        return codes

    return hub._db(add)


def _online(hub: Hub) -> dict[str, bool]:
    return hub._db(lambda s: dict(s.execute(select(Device.id, Device.online)).all()))


def _at_least(hub: Hub, dev: str, n: int):
    def events() -> list | None:
        stored = hub.events(dev)
        return stored if len(stored) >= n else None

    return events


@pytest.fixture
def crowd_fleet(tmp_path, broker, hub):
    assert hub.settings.hub_key_path is not None
    key = load_or_create(hub.settings.hub_key_path)
    fleet = Fleet(
        broker.host, broker.port, root=tmp_path / "fleet", hub_seed=key.seed,
        defaults={"log_level": "warning", "track_s": 0, "heartbeat_s": 2},
    )  # fmt: skip
    yield fleet
    fleet.cleanup()


def test_a_crowd_runs_the_firmware_and_every_device_comes_online_signs_in_and_beats(
    crowd_fleet, hub, tmp_path
):
    script = scenarios.write_jsonl(scenarios.idle(600), tmp_path / "idle.jsonl")
    devs = [crowd_fleet.add_handheld(f"hh-crowd-{i:02d}", grid, scenario=str(script))
            for i, grid in enumerate(_grids(hub, N))]  # fmt: skip
    for d in devs:
        hub.register(d)  # the broker account the hub made goes into the device's config
    with Crowd(devs, procs=2) as crowd:
        status = crowd.wait(lambda s: s.live == N, 60)
        assert status.failed == 0 and status.started == N and len(crowd.pids) == 2
        wait_until("all online", lambda: all(_online(hub).get(d.device_id) for d in devs), 60)
        for d in devs:
            # the sign-in and a heartbeat every 2 s: seq 1.. without a gap, each linked
            events = wait_until(f"3 events of {d.device_id}", _at_least(hub, d.device_id, 3), 60)
            assert sorted(e["seq"] for e in events) == list(range(1, len(events) + 1))
            assert all(e["chain"] == "linked" for e in events)
            assert {e["kind"] for e in events} == {"signin", "heartbeat"}
        assert crowd.status().rss_kb > 0
    # a clean stop, as a board's: each device's retained offline state, then DISCONNECT
    wait_until("all offline", lambda: not any(_online(hub).get(d.device_id) for d in devs), 60)
    assert hub.rejections() == {}


def test_a_device_that_cannot_be_built_is_counted_and_the_others_run(crowd_fleet, hub, tmp_path):
    script = scenarios.write_jsonl(scenarios.idle(600), tmp_path / "idle.jsonl")
    good = crowd_fleet.add_handheld("hh-crowd-ok", "33010200100101", scenario=str(script))
    bad = crowd_fleet.add_handheld("hh-crowd-bad", "33010200100101", scenario=str(script))
    hub.register(good)
    bad.update_config(hal={**bad.config["hal"], "camera": "laser"})  # no such driver
    with Crowd([bad, good], procs=1) as crowd:
        status = crowd.wait(lambda s: s.up == 1 and s.failed == 1, 60)
        assert status.started == 1
        assert "hh-crowd-bad" in status.errors[0] and "laser" in status.errors[0]


def test_the_ports_ticks_wrap_as_micropythons_do():
    period = cpython_port.TICKS_PERIOD
    assert cpython_port.ticks_diff(5, period - 5) == 10  # across the wrap
    assert cpython_port.ticks_diff(period - 5, 5) == -10
    assert cpython_port.ticks_add(period - 1, 2) == 1
    assert 0 <= cpython_port.ticks_ms() < period


def test_an_empty_crowd_is_an_error():
    with pytest.raises(ValueError, match="no devices"):
        Crowd([])


def test_one_handshake_at_a_time_still_brings_every_device_up_past_a_refused_one(
    crowd_fleet, hub, tmp_path
):
    """The crowd's handshake gate (one place): a device the broker refuses (wrong password)
    gives its place back each time, so the others behind it still connect."""
    script = scenarios.write_jsonl(scenarios.idle(600), tmp_path / "idle.jsonl")
    grids = _grids(hub, 5)
    devs = [crowd_fleet.add_handheld(f"hh-gate-{i}", g, scenario=str(script))
            for i, g in enumerate(grids)]  # fmt: skip
    for d in devs:
        hub.register(d)
    refused = devs[0]
    refused.update_config(broker={**refused.config["broker"], "password": "not-its-password"})
    with Crowd(devs, procs=1, handshakes=1) as crowd:
        status = crowd.wait(lambda s: s.up == 4 and s.failures >= 2, 60)
        assert status.connects == 4  # the refused one never got a CONNACK
    assert _online(hub)[refused.device_id] is False
