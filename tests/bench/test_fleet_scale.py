"""bench/fleet_scale.py on a small crowd, spread over two bridged brokers as the 20,000-device
run is on this box: every device online at the hub, heartbeats stored, and after both brokers
restart every device online again in a new session with no false offline state."""

from __future__ import annotations

from bench import fleet_scale

N = 30


def test_a_small_fleet_over_two_bridged_brokers_comes_back_after_the_storm() -> None:
    f = fleet_scale.measure(N, per_broker=N // 2, heartbeat_s=4)
    assert f.brokers == 2 and f.failed == 0
    assert 0 < f.connected_s <= f.online_s
    assert f.storm_online_s is not None
    assert f.false_offline == 0
    # each device was cut off by the restart: its will applied once, then its new birth
    assert f.wills_applied == N
    assert f.storm_connects >= N
    assert f.heartbeats_per_s > 0 and f.crowd_kb_per_device > 0 and f.hub_mb > 0
    rows = {r.name: r for r in fleet_scale.rows(f)}
    assert rows["reconnect storm: false offline states"].passed is True
    # 30 devices are not the 20,000 the target asks for: that row fails, honestly
    assert rows["devices connected and online at the hub"].passed is False
