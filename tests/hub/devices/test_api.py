"""REST API of devices: registration within the caller's area, commands, detail, revocation,
the hub key (read, never created, by GET)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
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


def test_a_street_admin_manages_only_its_own_streets_devices(
    client: TestClient,
    demo: DemoData,
    settings: Settings,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
) -> None:
    from hub.auth.models import Role
    from hub.auth.service import create_token

    with session_factory() as s:
        _row, secret = create_token(
            db_session=s,
            name="street-1-admin",
            role=Role.admin,
            scope_code="330102001",
            clock=clock,
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


def test_reading_the_hub_key_never_creates_it(
    client: TestClient, demo: DemoData, settings: Settings
) -> None:
    own = _auth(demo.tokens["street-330102001-operator"])
    r = client.get("/api/hub/key", headers=own)
    assert r.status_code == 404 and r.json()["code"] == "hub_key_missing"
    assert not settings.hub_key_path.exists()
