"""Broker accounts through the devices API: created at registration (shown once), disabled at
revocation (after it is committed), retried by the supervision pass, reset on demand.

The broker is a recording fake of ``hub.broker_admin.BrokerAdmin`` (these test the hub's side
of the calls; the real Mosquitto test of the accounts belongs to hub.broker_admin)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.broker_admin import AccountExistsError, BrokerAdminError, DeviceAccount
from hub.clock import FrozenClock, SystemClock
from hub.devices.deps import get_broker_admin
from hub.devices.flows import BrokerDisableRetry
from hub.devices.models import Device
from hub.devices.schemas import DeviceCreate
from hub.devices.service import register_device
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice


class RecordingBroker:
    """Records every call; ``down`` makes each call raise as an unreachable broker would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.accounts: dict[str, str] = {}
        self.disabled: set[str] = set()
        self.down: str | None = None

    def _call(self, name: str, device_id: str) -> None:
        self.calls.append((name, device_id))
        if self.down is not None:
            raise BrokerAdminError(self.down)

    def _account(self, device_id: str) -> DeviceAccount:
        password = secrets.token_urlsafe(24)
        self.accounts[device_id] = password
        return DeviceAccount(username=device_id, password=password, client_id=device_id)

    def create_device(self, device_id: str) -> DeviceAccount | None:
        self._call("create", device_id)
        if device_id in self.accounts:
            raise AccountExistsError(f"broker account {device_id!r} already exists")
        return self._account(device_id)

    def reset_password(self, device_id: str) -> DeviceAccount | None:
        self._call("reset", device_id)
        return self._account(device_id)

    def disable_device(self, device_id: str) -> bool:
        self._call("disable", device_id)
        self.disabled.add(device_id)
        return True

    def delete_device(self, device_id: str) -> None:
        self._call("delete", device_id)
        self.accounts.pop(device_id, None)
        self.disabled.discard(device_id)


@pytest.fixture
def broker(client: TestClient) -> Iterator[RecordingBroker]:
    fake = RecordingBroker()
    app = client.app
    app.dependency_overrides[get_broker_admin] = lambda: fake  # type: ignore[attr-defined]
    yield fake
    app.dependency_overrides.clear()  # type: ignore[attr-defined]


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}


def _body(device_factory: Callable[..., TestDevice], device_id: str, grid: str | None) -> dict:  # type: ignore[type-arg]
    key = device_factory(device_id).public_key.hex()
    return {"id": device_id, "kind": "handheld", "public_key": key, "grid_code": grid}


def test_registration_creates_the_account_and_shows_it_once(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    r = client.post(
        "/api/devices", json=_body(device_factory, "hh-b1", demo.grids[0]), headers=admin
    )
    assert r.status_code == 201, r.text
    account = r.json()["broker"]
    assert account == {
        "username": "hh-b1",
        "password": broker.accounts["hh-b1"],
        "client_id": "hh-b1",
    }
    assert broker.calls == [("create", "hh-b1")]
    detail = client.get("/api/devices/hh-b1", headers=admin)
    assert "broker" not in detail.json() and account["password"] not in detail.text
    # validation comes first: a refused registration never reaches the broker
    r = client.post(
        "/api/devices", json=_body(device_factory, "hh-b2", demo.grids[0]), headers=admin
    )
    assert r.status_code == 409 and r.json()["message"] == (
        f"grid {demo.grids[0]} already has the active handheld hh-b1: revoke hh-b1 first "
        "(gridlink provision revoke hh-b1)"
    )
    assert broker.calls == [("create", "hh-b1")]


def test_an_orphan_account_of_an_unregistered_id_is_replaced(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    # left by a registration whose clean-up failed, disabled and with a password someone knows
    broker.accounts["hh-o1"] = "an-old-password"
    broker.disabled.add("hh-o1")
    r = client.post(
        "/api/devices", json=_body(device_factory, "hh-o1", demo.grids[0]), headers=admin
    )
    assert r.status_code == 201, r.text
    assert broker.calls == [("create", "hh-o1"), ("delete", "hh-o1"), ("create", "hh-o1")]
    password = r.json()["broker"]["password"]
    assert password == broker.accounts["hh-o1"] != "an-old-password"
    assert "hh-o1" not in broker.disabled


def test_a_broker_failure_registers_nothing(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    broker.down = "broker at 127.0.0.1:1883 did not answer within 5.0 s"
    body = _body(device_factory, "hh-down", demo.grids[0])
    r = client.post("/api/devices", json=body, headers=admin)
    assert r.status_code == 503
    assert r.json() == {
        "code": "broker_unavailable",
        "message": "broker: broker at 127.0.0.1:1883 did not answer within 5.0 s",
    }
    assert client.get("/api/devices/hh-down", headers=admin).status_code == 404
    broker.down = None  # the same registration goes through once the broker is back
    r = client.post("/api/devices", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["broker"]["username"] == "hh-down"


def test_revocation_disables_the_account_after_committing_and_is_idempotent(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    client.post("/api/devices", json=_body(device_factory, "hh-rv", demo.grids[0]), headers=admin)
    r = client.post("/api/devices/hh-rv/revoke", json={"reason": "lost"}, headers=admin)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "revoked" and first["broker_disabled"] is True
    assert first["broker_disabled_at"] is not None and first["revoked_seq"] == 0
    assert broker.disabled == {"hh-rv"}
    r = client.post("/api/devices/hh-rv/revoke", headers=admin)
    assert r.json()["broker_disabled"] is True and r.json()["revoked_at"] == first["revoked_at"]
    assert broker.calls.count(("disable", "hh-rv")) == 1
    # the grid is free again, and the revoked device gets no new broker password
    r = client.post(
        "/api/devices", json=_body(device_factory, "hh-rv2", demo.grids[0]), headers=admin
    )
    assert r.status_code == 201
    r = client.post("/api/devices/hh-rv/broker-password", headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "device_revoked"
    operator = {"Authorization": f"Bearer {demo.tokens['street-330102001-operator']}"}
    assert client.post("/api/devices/hh-rv/revoke", headers=operator).status_code == 403


def test_a_broker_down_at_revocation_is_retried_by_supervision(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for device_id, grid in (("hh-d1", demo.grids[0]), ("hh-d2", demo.grids[1])):
        client.post("/api/devices", json=_body(device_factory, device_id, grid), headers=admin)
    broker.down = "broker at 127.0.0.1:1883 refused the connection"
    for device_id in ("hh-d1", "hh-d2"):
        r = client.post(f"/api/devices/{device_id}/revoke", headers=admin)
        assert r.status_code == 200
        assert (r.json()["status"], r.json()["broker_disabled"]) == ("revoked", False)
    retry = BrokerDisableRetry(broker)
    caplog.set_level(logging.INFO, logger="hub.devices.flows")
    for _ in range(3):  # the broker stays down: one warning per device, not one per pass
        with session_factory() as db_session:
            assert retry.run(db_session=db_session, clock=clock) == 0
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "hub.devices.flows"
    ]
    refused = "disabling the broker account failed: broker at 127.0.0.1:1883 refused the connection"
    assert warnings == [f"hh-d1: {refused}", f"hh-d2: {refused}"]
    caplog.clear()
    broker.down = None
    with session_factory() as db_session:
        assert retry.run(db_session=db_session, clock=clock) == 2
    with session_factory() as db_session:
        assert retry.run(db_session=db_session, clock=clock) == 0
        rows = [db_session.get(Device, d) for d in ("hh-d1", "hh-d2")]
        assert all(row is not None and row.broker_disabled_at == clock.now() for row in rows)
    assert broker.disabled == {"hh-d1", "hh-d2"}
    infos = [r.getMessage() for r in caplog.records if "after earlier failures" in r.getMessage()]
    assert len(infos) == 2
    r = client.get("/api/devices/hh-d1", headers=admin)
    assert r.json()["broker_disabled_at"] is not None


def test_a_new_broker_password_for_an_active_device(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    client.post("/api/devices", json=_body(device_factory, "hh-pw", demo.grids[0]), headers=admin)
    first = broker.accounts["hh-pw"]
    r = client.post("/api/devices/hh-pw/broker-password", headers=admin)
    assert r.status_code == 200
    assert r.json()["password"] == broker.accounts["hh-pw"] != first
    operator = {"Authorization": f"Bearer {demo.tokens['street-330102001-operator']}"}
    assert client.post("/api/devices/hh-pw/broker-password", headers=operator).status_code == 403
    assert client.post("/api/devices/nope/broker-password", headers=admin).status_code == 404
    broker.down = "broker refused: not authorised"
    r = client.post("/api/devices/hh-pw/broker-password", headers=admin)
    assert r.status_code == 503 and r.json()["code"] == "broker_unavailable"


def test_without_broker_accounts(
    client: TestClient,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
) -> None:
    """broker_accounts="none" (development, the anonymous demo broker): nothing to create,
    disable or reset, and the responses say so."""
    r = client.post(
        "/api/devices", json=_body(device_factory, "hh-anon", demo.grids[0]), headers=admin
    )
    assert r.status_code == 201 and r.json()["broker"] is None
    r = client.post("/api/devices/hh-anon/broker-password", headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "no_broker_accounts"
    r = client.post("/api/devices/hh-anon/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["broker_disabled"] is False


def test_a_registration_that_loses_a_race_deletes_the_account_it_created(
    client: TestClient,
    broker: RecordingBroker,
    admin: dict[str, str],
    demo: DemoData,
    device_factory: Callable[..., TestDevice],
    session_factory: sessionmaker[Session],
) -> None:
    """Two admins register the same id at once: the one whose write loses gets a 409, and the
    broker account its call created is deleted again (the winner's stands)."""
    body = _body(device_factory, "hh-race", demo.grids[0])
    create = broker.create_device

    def create_while_another_admin_registers(device_id: str) -> DeviceAccount | None:
        account = create(device_id)
        with session_factory() as other:  # the winner commits between check and write
            register_device(
                db_session=other, data=DeviceCreate.model_validate(body), clock=SystemClock()
            )
            other.commit()
        return account

    broker.create_device = create_while_another_admin_registers  # type: ignore[method-assign]
    r = client.post("/api/devices", json=body, headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "device_exists"
    assert broker.calls == [("create", "hh-race"), ("delete", "hh-race")]
    assert client.get("/api/devices/hh-race", headers=admin).json()["status"] == "active"
