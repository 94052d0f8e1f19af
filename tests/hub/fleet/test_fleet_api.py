"""``GET /api/fleet/devices`` and ``GET /api/workers/{id}/track``: figures from the real ingest
path (births, heartbeats, track events), each street sees only its own, the day is the hub's
local day, and commands to another street's device are refused as if it did not exist."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import FrozenClock
from hub.devices.models import Device, DevicePresence
from hub.seed import DemoData
from tests.hub.builders import GRID, OTHER_STREET_GRID
from tests.hub.fleet_fixtures import WORKER_A, WORKER_B, feed, make_fleet

STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def test_each_street_sees_its_devices_with_their_figures(
    client: TestClient,
    db_session: Session,
    processor,
    device_factory,
    clock: FrozenClock,
    demo: DemoData,
) -> None:
    make_fleet(db_session, processor, device_factory, clock)
    res = client.post("/api/devices/hh-a1/commands/ping", json={}, headers=auth(demo, STREET_A))
    assert res.status_code == 201, res.text
    page = client.get("/api/fleet/devices", headers=auth(demo, STREET_A)).json()
    assert (page["total"], page["online"]) == (2, 2)
    by_id = {d["id"]: d for d in page["items"]}
    assert set(by_id) == {"ac-a1", "hh-a1"}
    hh = by_id["hh-a1"]
    assert (hh["battery"], hh["outbox"], hh["storage_free"]) == (76, 3, 900_000)
    assert (hh["firmware"], hh["grid_code"], hh["community_code"]) == ("1.4.2", GRID, GRID[:12])
    assert hh["pending_commands"] == 1 and by_id["ac-a1"]["pending_commands"] == 0
    assert by_id["ac-a1"]["battery"] is None  # reported as null: unknown
    other = client.get("/api/fleet/devices", headers=auth(demo, STREET_B)).json()
    assert [d["id"] for d in other["items"]] == ["hh-b1"]
    assert other["items"][0]["battery"] == 12
    # another street's device: 404 for reading and for commands, as if it did not exist
    for method, path in (
        ("get", "/api/devices/hh-b1"),
        ("post", "/api/devices/hh-b1/commands/reboot"),
    ):
        res = client.request(method.upper(), path, json={}, headers=auth(demo, STREET_A))
        assert res.status_code == 404 and "hh-b1" in res.json()["message"]
    unit = client.get("/api/fleet/devices", headers=auth(demo, "unit-330102001001-office"))
    assert unit.status_code == 403
    assert client.get("/api/fleet/devices").status_code == 401
    offline = client.get("/api/fleet/devices?online=false", headers=auth(demo, STREET_A)).json()
    assert offline["items"] == []
    bad = client.get("/api/fleet/devices?grid=1' or 1=1", headers=auth(demo, STREET_A))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"


def test_heartbeats_keep_the_newest_figures_and_presence_is_logged(
    db_session: Session, processor, device_factory, clock: FrozenClock, demo: DemoData
) -> None:
    fleet = make_fleet(db_session, processor, device_factory, clock)
    hh = fleet.handheld
    old_ts = int((clock.now() - timedelta(hours=1)).timestamp())
    feed(processor, [hh.event("heartbeat", {"battery": 99, "outbox": 0}, ts=old_ts)])
    db_session.expire_all()
    device = db_session.get(Device, "hh-a1")
    assert device is not None and (device.battery, device.outbox) == (76, 3)  # older: ignored
    clock.advance(timedelta(minutes=1))
    feed(processor, [hh.event("heartbeat", {"battery": 101, "outbox": -1, "storage_free": "x"})])
    db_session.expire_all()
    device = db_session.get(Device, "hh-a1")
    assert device is not None
    assert (device.battery, device.outbox, device.storage_free) == (None, None, None)
    feed(processor, [hh.will(), hh.birth()])
    rows = db_session.scalars(
        select(DevicePresence)
        .where(DevicePresence.device_id == "hh-a1")
        .order_by(DevicePresence.id)
    ).all()
    assert [(r.online, r.grid_code) for r in rows] == [(True, GRID), (False, GRID), (True, GRID)]


def test_a_workers_track_for_a_day_in_the_callers_area(
    client: TestClient,
    db_session: Session,
    processor,
    device_factory,
    clock: FrozenClock,
    demo: DemoData,
) -> None:
    fleet = make_fleet(db_session, processor, device_factory, clock)
    # a fix just before local midnight of the day before (UTC 15:59 on 4 January) is not in it
    before = int(clock.now().replace(hour=0, minute=0, second=0).timestamp()) - 8 * 3600 - 1
    feed(
        processor,
        [
            fleet.handheld.event(
                "track",
                {"grid": GRID, "worker": WORKER_A, "points": [[before, 1, 2, 3], "junk"]},
                ts=before + 30,  # sent (replayed) half a minute after the fix
            )
        ],
    )
    res = client.get(f"/api/workers/{WORKER_A}/track?day=2026-01-05", headers=auth(demo, STREET_A))
    assert res.status_code == 200, res.text
    track = res.json()
    assert [(p["lat_e6"], p["lon_e6"]) for p in track["points"]] == [
        (p[1], p[2]) for p in fleet.track
    ]
    assert track["truncated"] is False and track["points"][0]["grid_code"] == GRID
    day_before = client.get(
        f"/api/workers/{WORKER_A}/track?day=2026-01-04", headers=auth(demo, STREET_A)
    ).json()
    assert [(p["lat_e6"], p["lon_e6"]) for p in day_before["points"]] == [(1, 2)]
    # street A cannot see street B's worker, nor the other way round
    for label, worker in ((STREET_A, WORKER_B), (STREET_B, WORKER_A)):
        res = client.get(f"/api/workers/{worker}/track?day=2026-01-05", headers=auth(demo, label))
        assert res.status_code == 404, res.text
    own_b = client.get(
        f"/api/workers/{WORKER_B}/track?day=2026-01-05", headers=auth(demo, STREET_B)
    ).json()
    assert [p["grid_code"] for p in own_b["points"]] == [OTHER_STREET_GRID]
    bad = client.get(f"/api/workers/{WORKER_A}/track?day=2026-13-01", headers=auth(demo, STREET_A))
    assert bad.status_code == 422
