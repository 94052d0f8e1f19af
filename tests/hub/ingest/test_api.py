"""REST API of devices, commands, events, rejection counters and media."""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.cases.models import Case
from hub.ingest.messages import Inbound
from hub.ingest.processor import Processor
from hub.keys import HubKey
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_device_register_scope_commands_revoke(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    hub_key: HubKey,
    device_factory: Callable[..., TestDevice],
) -> None:
    admin = _auth(settings.admin_token.get_secret_value())
    grid = demo.grids[0]  # street 330102001
    dev = device_factory("hh-api")
    body = {
        "id": "hh-api",
        "kind": "handheld",
        "public_key": dev.public_key.hex(),
        "grid_code": grid,
    }
    r = client.post("/api/devices", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["grid_code"] == grid
    other = dict(body, id="hh-api-2")
    r = client.post("/api/devices", json=other, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "grid_has_handheld"
    r = client.post("/api/devices", json=dict(body, id="bad/id"), headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "bad_device_id"

    own = _auth(demo.tokens["street-330102001-operator"])
    foreign = _auth(demo.tokens["street-330102002-operator"])
    assert [d["id"] for d in client.get("/api/devices", headers=own).json()] == ["hh-api"]
    assert client.get("/api/devices", headers=foreign).json() == []
    assert client.get("/api/devices/hh-api", headers=foreign).status_code == 404
    r = client.post("/api/devices", json=dict(body, id="x1", grid_code=None), headers=own)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"

    r = client.get("/api/hub/key", headers=own)
    assert r.status_code == 200 and r.json()["public_key"] == hub_key.public_key_hex

    r = client.post("/api/devices/hh-api/commands/task", json={"args": {"text": "go"}}, headers=own)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["cseq"], r.json()["op"]) == ("queued", 1, "task")
    r = client.post("/api/devices/hh-api/commands/open", json={}, headers=own)
    assert r.status_code == 422 and r.json()["code"] == "bad_op"
    assert (
        client.post("/api/devices/hh-api/commands/ping", json={}, headers=foreign).status_code
        == 404
    )
    detail = client.get("/api/devices/hh-api", headers=own).json()
    assert [c["op"] for c in detail["commands"]] == ["task"]

    r = client.post("/api/devices/hh-api/revoke", json={"reason": "lost"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    history = client.get("/api/devices/hh-api/commands", headers=admin).json()
    assert [(c["status"], c["detail"]) for c in history] == [("failed", "device revoked")]
    # the grid's handheld slot is free again
    assert client.post("/api/devices", json=other, headers=admin).status_code == 201


def test_events_rejections_and_media_download(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    processor: Processor,
    device_factory: Callable[..., TestDevice],
) -> None:
    admin = _auth(settings.admin_token.get_secret_value())
    dev = device_factory("hh-ev")
    body = {
        "id": "hh-ev",
        "kind": "handheld",
        "public_key": dev.public_key.hex(),
        "grid_code": demo.grids[0],
    }
    assert client.post("/api/devices", json=body, headers=admin).status_code == 201
    photo = os.urandom(20_000)
    msgs = [
        dev.event("report", {"text": "bin full", "category": "garbage"}, blobs=[dev.media(photo)]),
        *dev.chunks(photo),
        ("gl/v1/hh-ev/evt/report", b"not json"),
    ]
    processor.process([Inbound(t, p) for t, p in msgs])
    with processor.session_factory() as s:  # the report reached the case workflow
        case = s.scalars(select(Case).where(Case.device_id == "hh-ev")).one()
        assert (case.event_seq, case.category_code, case.grid_code) == (1, "garbage", demo.grids[0])

    own = _auth(demo.tokens["street-330102001-operator"])
    foreign = _auth(demo.tokens["street-330102002-operator"])
    events = client.get("/api/events", headers=own).json()
    assert [(e["device_id"], e["seq"], e["kind"]) for e in events] == [("hh-ev", 1, "report")]
    assert client.get("/api/events", headers=foreign).json() == []
    counters = client.get("/api/events/rejections", headers=own).json()
    assert {c["reason"]: c["count"] for c in counters} == {"malformed": 1}

    sha = dev.media(photo)["sha256"]
    r = client.get(f"/api/media/{sha}/content", headers=own)
    assert r.status_code == 200 and r.content == photo
    assert r.headers["content-type"] == "image/jpeg"
    assert client.get(f"/api/media/{sha}/content", headers=foreign).status_code == 404
    assert client.get(f"/api/media/{sha}/content").status_code == 401
    assert client.get(f"/api/media/{sha}", headers=own).json()["status"] == "complete"


def test_a_street_admin_manages_only_its_own_streets_devices(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    from hub.auth.models import Role
    from hub.auth.service import create_token

    with session_factory() as s:
        _row, secret = create_token(
            db_session=s, name="street-1-admin", role=Role.admin, scope_code="330102001"
        )
        s.commit()
    street_admin = _auth(secret)
    root = _auth(settings.admin_token.get_secret_value())
    own_grid, other_grid = demo.grids[0], demo.grids[-1]
    assert own_grid.startswith("330102001") and other_grid.startswith("330102002")
    for dev_id, grid in (("hh-own", own_grid), ("hh-other", other_grid)):
        body = {
            "id": dev_id,
            "kind": "handheld",
            "public_key": device_factory(dev_id).public_key.hex(),
            "grid_code": grid,
        }
        assert client.post("/api/devices", json=body, headers=root).status_code == 201
    body = {"id": "hh-x", "kind": "handheld", "public_key": "ab" * 32, "grid_code": other_grid}
    assert client.post("/api/devices", json=body, headers=street_admin).status_code == 403
    assert client.post("/api/devices/hh-other/revoke", headers=street_admin).status_code == 404
    r = client.put("/api/devices/hh-other/grid", json={"grid_code": None}, headers=street_admin)
    assert r.status_code == 404
    r = client.put("/api/devices/hh-own/grid", json={"grid_code": other_grid}, headers=street_admin)
    assert r.status_code == 403
    assert client.get("/api/devices/hh-other", headers=root).json()["status"] == "active"
    assert client.post("/api/devices/hh-own/revoke", headers=street_admin).status_code == 200
    assert client.get("/api/events/chain-gaps", headers=street_admin).status_code == 200
