"""Rollouts: targets and stages, the state machine driven by real signed ``ota`` events and
acks through the ingest processor, auto pause / advance, manual actions, timeouts on the
hub's frozen clock."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.models import Role
from hub.auth.service import create_token
from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.devices.models import Device
from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.ota import rollouts, service
from protocol import bundle
from tests.builders.devices import TestDevice
from tests.hub.ota.conftest import make_glb

OCTET = {"Content-Type": "application/octet-stream"}


def upload(client: TestClient, admin: dict[str, str], **kwargs: Any) -> str:
    resp = client.post("/api/ota/bundles", content=make_glb(**kwargs), headers={**admin, **OCTET})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def create(client: TestClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = client.post("/api/ota/rollouts", json=body, headers=admin)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def feed(processor: Processor, *msgs: tuple[str, bytes]) -> None:
    result = processor.process([Inbound(t, p) for t, p in msgs])
    assert result.rejected == 0, processor.tally.totals


def report(dev: TestDevice, rollout: dict[str, Any], state: str, reason: str | None = None):
    body = bundle.event_body(rollout["id"], rollout["bundle"], rollout["version"], state, reason)
    return dev.event("ota", dict(body))


def test_stages_are_deterministic_and_exclude_hw(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    db_session: Session,
) -> None:
    devs = devices(20)
    odd = db_session.get(Device, devs[0].device_id)
    assert odd is not None
    odd.hardware = "esp32-s3"
    db_session.commit()
    bid = upload(client, admin)
    out = create(client, admin, bundle=bid, target={"all": True}, stages=[10, 50, 100])
    assert out["excluded"] == [
        {"device_id": devs[0].device_id, "reason": "hardware esp32-s3 is not in the bundle's hw"}
    ]
    ids = [d.device_id for d in devs[1:]]
    order = sorted(ids, key=lambda d: hashlib.sha256(f"{out['id']}/{d}".encode()).hexdigest())
    stage_of = {d["device_id"]: d["stage"] for d in out["devices"]}
    assert [d["device_id"] for d in out["devices"]] == order
    n = len(ids)
    sizes = [math.ceil(n * p / 100) for p in (10, 50, 100)]
    assert [sum(1 for s in stage_of.values() if s <= k) for k in range(3)] == sizes
    assert out["total"] == 19 and out["counts"]["queued"] == sizes[0]
    assert out["counts"]["pending"] == 19 - sizes[0] and out["id"] == "r-1"
    cmds = db_session.scalars(select(Command).where(Command.op == "ota")).all()
    assert sorted(c.device_id for c in cmds) == sorted(order[: sizes[0]])
    assert cmds[0].args == dict(
        bundle.command_args(
            "r-1",
            bid,
            len(service.get_bundle(db_session=db_session, bundle_id=bid).manifest),
            "0.2.0",
        )
    )
    # the API never queues an ota command itself
    resp = client.post(
        f"/api/devices/{ids[0]}/commands/ota", json={"args": cmds[0].args}, headers=admin
    )
    assert resp.status_code == 422 and "firmware rollout" in resp.json()["message"]
    # an empty target
    resp = client.post(
        "/api/ota/rollouts",
        json={"bundle": bid, "target": {"devices": [devs[0].device_id]}},
        headers=admin,
    )
    assert resp.status_code == 422 and resp.json()["code"] == "empty_target"


def test_events_drive_the_device_state_and_auto_advance(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    processor: Processor,
    db_session: Session,
) -> None:
    devs = {d.device_id: d for d in devices(4)}
    bid = upload(client, admin)
    out = create(
        client,
        admin,
        bundle=bid,
        target={"devices": sorted(devs)},
        stages=[25, 100],
        auto_advance=True,
    )
    first = out["devices"][0]["device_id"]
    dev = devs[first]
    cmd = db_session.scalars(select(Command).where(Command.device_id == first)).one()
    feed(processor, dev.ack({"id": cmd.id, "cseq": cmd.cseq}, "succeeded", "accepted"))
    steps = [report(dev, out, s) for s in ("downloading", "verified", "updating", "updated")]
    feed(processor, steps[3])  # the newest arrives first (a redelivery order)
    feed(processor, *steps[:3])  # older seqs change nothing
    got = client.get(f"/api/ota/rollouts/{out['id']}", headers=admin).json()
    row = next(d for d in got["devices"] if d["device_id"] == first)
    assert row["state"] == "updated", row
    assert got["stage"] == 1 and got["counts"]["queued"] == 3  # advanced by itself


def test_rolled_back_after_updated_wins_and_pauses(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    processor: Processor,
) -> None:
    devs = {d.device_id: d for d in devices(10)}
    bid = upload(client, admin)
    out = create(client, admin, bundle=bid, target={"all": True})
    first = devs[out["devices"][0]["device_id"]]
    feed(processor, report(first, out, "updated"))
    feed(processor, report(first, out, "rolled_back", "crash: ImportError"))
    got = client.get(f"/api/ota/rollouts/{out['id']}", headers=admin).json()
    assert got["devices"][0]["state"] == "rolled_back"
    assert got["devices"][0]["reason"] == "crash: ImportError"
    assert got["state"] == "paused"
    assert got["paused_reason"] == "failures: 1 of 1 (100%) >= 20%"
    # paused: advancing queues nothing; resume carries on until the next failure
    resp = client.post(f"/api/ota/rollouts/{out['id']}/advance", headers=admin)
    assert resp.status_code == 200 and resp.json()["counts"]["queued"] == 0
    resp = client.post(f"/api/ota/rollouts/{out['id']}/resume", headers=admin)
    assert resp.json()["state"] == "running" and resp.json()["counts"]["queued"] == 9
    resp = client.post(f"/api/ota/rollouts/{out['id']}/advance", headers=admin)
    assert resp.status_code == 409  # the last stage
    resp = client.post(f"/api/ota/rollouts/{out['id']}/cancel", headers=admin)
    assert resp.json()["state"] == "cancelled" and resp.json()["total"] == 1  # untold ones left


def test_timeout_on_the_frozen_clock(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    db_session: Session,
    clock: FrozenClock,
) -> None:
    devices(2)
    bid = upload(client, admin)
    out = create(
        client, admin, bundle=bid, target={"all": True}, stages=[50, 100], device_timeout_s=120
    )
    clock.advance(seconds=119)
    assert rollouts.supervise(db_session=db_session, clock=clock) == 0
    clock.advance(seconds=1)
    assert rollouts.supervise(db_session=db_session, clock=clock) == 1
    db_session.commit()
    got = client.get(f"/api/ota/rollouts/{out['id']}", headers=admin).json()
    assert got["devices"][0]["state"] == "failed" and got["devices"][0]["reason"] == "timeout"
    assert got["state"] == "paused"


def test_a_scoped_admin_reaches_only_its_area(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    device_factory: Callable[..., TestDevice],
    db_session: Session,
    clock: FrozenClock,
) -> None:
    inside = [d.device_id for d in devices(2)]  # grids of community 330102001001
    outside = device_factory("hh-out")
    outside.register(db_session, "33010200200101")  # street 330102002
    gate = device_factory("ac-000", kind="access")
    gate.register(db_session, None)  # in no grid: no area's
    _row, token = create_token(
        db_session=db_session, name="street-admin", role=Role.admin, scope_code="330102001",
        clock=clock,
    )  # fmt: skip
    db_session.commit()
    street = {"Authorization": f"Bearer {token}"}
    bid = upload(client, admin, kinds=("handheld", "access"))

    resp = client.post(
        "/api/ota/rollouts", json={"bundle": bid, "target": {"area": "330102002"}}, headers=street
    )
    assert resp.status_code == 403, resp.text
    assert resp.json()["detail"] == "area 330102002 is outside your area 330102001"
    resp = client.post(
        "/api/ota/rollouts", json={"bundle": bid, "target": {"devices": ["hh-out"]}}, headers=street
    )
    assert resp.status_code == 422 and resp.json()["detail"] == "unknown devices: hh-out"
    out = create(client, street, bundle=bid, target={"all": True})
    assert sorted(d["device_id"] for d in out["devices"]) == inside
    out = create(client, admin, bundle=bid, target={"all": True})  # unscoped: everyone else
    assert sorted(d["device_id"] for d in out["devices"]) == ["ac-000", "hh-out"]
    assert {e["reason"] for e in out["excluded"]} == {"in rollout r-1"}
