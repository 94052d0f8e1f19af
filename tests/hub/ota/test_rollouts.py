"""Rollouts: targets and stages, the state machine driven by real signed ``ota`` events and
acks through the ingest processor, auto pause / advance, manual actions, timeouts on the
hub's frozen clock."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.models import Role
from hub.auth.service import create_token
from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.devices.models import Device
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.ota import rollouts, service
from hub.ota.models import Rollout
from hub.ota.serving import FirmwareServer
from hub.settings import Settings
from protocol import bundle, topics
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


def _one(client: TestClient, admin: dict[str, str], rollout_id: str) -> dict[str, Any]:
    return dict(client.get(f"/api/ota/rollouts/{rollout_id}", headers=admin).json())


def test_a_late_report_never_reopens_a_finished_device(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    processor: Processor,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    devs = {d.device_id: d for d in devices(2)}
    bid = upload(client, admin)
    out = create(
        client, admin, bundle=bid, target={"all": True}, stages=[100], device_timeout_s=120
    )
    first = devs[out["devices"][0]["device_id"]]
    clock.advance(seconds=120)
    assert rollouts.supervise(db_session=db_session, clock=clock) == 2
    db_session.commit()
    feed(processor, report(first, out, "downloading"))  # late: the hub gave up on it
    got = _one(client, admin, out["id"])
    assert got["devices"][0]["state"] == "failed" and got["devices"][0]["reason"] == "timeout"
    server = FirmwareServer(processor.session_factory, FileBlobStore(settings.ota_dir))
    replies = server.handle(
        [Inbound(topics.fwreq(first.device_id), bundle.fetch_request(bid, 0, 512))],
        lambda *_a: None,
    )
    assert json.loads(replies[0].payload)["error"] == "not_offered"  # not servable again
    feed(processor, report(first, out, "updated"))  # a real late success counts
    feed(processor, report(first, out, "verified"))  # and is not undone by a later step
    got = _one(client, admin, out["id"])
    assert [d["state"] for d in got["devices"]] == ["updated", "failed"]
    assert got["counts"]["updated"] == 1 and got["counts"]["failed"] == 1


def test_a_failure_after_a_resume_pauses_even_when_an_older_one_turned_into_success(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    processor: Processor,
) -> None:
    devs = {d.device_id: d for d in devices(4)}
    bid = upload(client, admin)
    out = create(
        client, admin, bundle=bid, target={"all": True}, stages=[100], pause_failure_percent=30
    )
    a, b, _c, _d = (devs[d["device_id"]] for d in out["devices"])
    feed(processor, report(a, out, "failed", "no birth before the deadline"))
    assert _one(client, admin, out["id"])["state"] == "paused"
    resp = client.post(f"/api/ota/rollouts/{out['id']}/resume", headers=admin)
    assert resp.json()["state"] == "running"  # the old failure no longer pauses it
    feed(processor, report(a, out, "updated"))  # then turned into a late success
    assert _one(client, admin, out["id"])["state"] == "running"
    feed(processor, report(b, out, "rolled_back", "no birth"))  # a new failure: 1 of 2
    got = _one(client, admin, out["id"])
    assert got["state"] == "paused", got
    assert got["paused_reason"] == "failures: 1 of 2 (50%) >= 30%"


def test_a_stale_copy_never_undoes_a_cancel(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    processor: Processor,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
) -> None:
    devs = {d.device_id: d for d in devices(2)}
    bid = upload(client, admin)
    out = create(client, admin, bundle=bid, target={"all": True})
    first = devs[out["devices"][0]["device_id"]]
    feed(processor, report(first, out, "downloading"))
    with session_factory() as ingest:
        stale = ingest.get(Rollout, out["id"])  # ingest read it before the operator acted
        assert stale is not None and stale.state == "running"
        resp = client.post(f"/api/ota/rollouts/{out['id']}/cancel", headers=admin)
        assert resp.json()["state"] == "cancelled"
        body = bundle.event_body(out["id"], bid, out["version"], "rolled_back", "crash")
        rollouts.apply_report(
            db_session=ingest, device_id=first.device_id, seq=1 << 40, body=body, clock=clock
        )
        ingest.commit()
    got = _one(client, admin, out["id"])
    assert got["state"] == "cancelled" and got["devices"][0]["state"] == "rolled_back"


def test_readers_need_a_role_and_scoped_users_stay_in_their_area(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., list[TestDevice]],
    device_factory: Callable[..., TestDevice],
    db_session: Session,
    clock: FrozenClock,
    demo: Any,
) -> None:
    devices(2)  # grids of street 330102001
    device_factory("hh-out").register(db_session, "33010200200101")  # street 330102002
    tokens = {}
    for name, role in (("street-admin", Role.admin), ("street-op", Role.operator)):
        _row, tokens[name] = create_token(
            db_session=db_session, name=name, role=role, scope_code="330102001", clock=clock
        )
    db_session.commit()
    street = {"Authorization": f"Bearer {tokens['street-admin']}"}
    street_op = {"Authorization": f"Bearer {tokens['street-op']}"}
    unit_token = next(t for label, t in demo.tokens.items() if label.startswith("unit-"))
    unit = {"Authorization": f"Bearer {unit_token}"}
    bid = upload(client, admin)
    mine = create(client, street, bundle=bid, target={"all": True}, stages=[50, 100])
    wide = create(client, admin, bundle=bid, target={"devices": ["hh-000", "hh-out"]})
    for url in (
        "/api/ota/bundles", f"/api/ota/bundles/{bid}", "/api/ota/rollouts",
        f"/api/ota/rollouts/{mine['id']}",
    ):  # fmt: skip
        resp = client.get(url, headers=unit)
        assert resp.status_code == 403, (url, resp.text)
        # bundles are read district-wide; a street's rollouts by the street
        want = 403 if "bundles" in url else 200
        assert client.get(url, headers=street_op).status_code == want, url
    listed = {who: client.get("/api/ota/rollouts", headers=h).json() for who, h in
              (("admin", admin), ("street", street), ("op", street_op))}  # fmt: skip
    assert sorted(r["id"] for r in listed["admin"]) == sorted([wide["id"], mine["id"]])
    assert [r["id"] for r in listed["street"]] == [r["id"] for r in listed["op"]] == [mine["id"]]
    # a rollout reaching outside the caller's area is not found, like any object outside it
    resp = client.get(f"/api/ota/rollouts/{wide['id']}", headers=street)
    assert resp.status_code == 404
    assert resp.json()["detail"] == f"rollout {wide['id']} not found"
    for action in ("pause", "resume", "advance", "cancel"):
        resp = client.post(f"/api/ota/rollouts/{wide['id']}/{action}", headers=street)
        assert resp.status_code == 404, (action, resp.text)
    assert _one(client, admin, wide["id"])["state"] == "running"
    resp = client.post(f"/api/ota/rollouts/{mine['id']}/pause", headers=street)
    assert resp.status_code == 200 and resp.json()["state"] == "paused"
