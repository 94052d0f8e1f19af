"""hub.broker_admin against real Mosquitto with the dynamic-security plugin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub import broker_admin
from hub.broker_admin import BrokerAdminError, DynsecAdmin, NoBrokerAccounts
from hub.settings import Settings
from protocol.errors import DeviceIdError
from tests.provisioning.mqtt_client import Client
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path_factory.mktemp("broker")) as mosq:
        yield mosq


def settings_for(broker: Mosquitto, **over: object) -> Settings:
    return Settings(env="development", **{**broker.hub_settings_kwargs(), **over})


def connects(broker: Mosquitto, user: str, password: str, client_id: str | None = None) -> str:
    c = Client(broker, (user, password), client_id or user)
    reason = c.connect()
    c.stop()
    return reason


def test_create_reset_disable_delete(broker: Mosquitto) -> None:
    admin = broker_admin.for_settings(settings_for(broker))
    assert isinstance(admin, DynsecAdmin)
    account = admin.create_device("hh-adm-1")
    assert account.username == account.client_id == "hh-adm-1" and len(account.password) >= 32
    assert connects(broker, account.username, account.password) == "Success"
    with pytest.raises(BrokerAdminError, match="'hh-adm-1' already exists"):
        admin.create_device("hh-adm-1")
    assert connects(broker, account.username, account.password) == "Success"  # untouched

    fresh = admin.reset_password("hh-adm-1")
    assert fresh.password != account.password
    assert connects(broker, "hh-adm-1", account.password) == "Not authorized"
    assert connects(broker, "hh-adm-1", fresh.password) == "Success"

    assert admin.disable_device("hh-adm-1") is True
    assert connects(broker, "hh-adm-1", fresh.password) == "Not authorized"

    admin.delete_device("hh-adm-1")
    admin.delete_device("hh-adm-1")  # idempotent: the undo of a failed registration
    again = admin.create_device("hh-adm-1")  # client and role are gone: a clean re-create
    assert connects(broker, "hh-adm-1", again.password) == "Success"


def test_errors_are_one_clear_line(broker: Mosquitto) -> None:
    admin = broker_admin.for_settings(settings_for(broker))
    with pytest.raises(BrokerAdminError, match="'hh-nobody'.*not found"):
        admin.reset_password("hh-nobody")
    assert admin.disable_device("hh-nobody") is True  # no account: it cannot connect anyway
    with pytest.raises(DeviceIdError):
        admin.create_device("hh/../#")
    wrong = broker_admin.for_settings(settings_for(broker, mqtt_password=SecretStr("wrong")))
    with pytest.raises(BrokerAdminError, match="refused the hub's account 'hub'") as exc:
        wrong.create_device("hh-adm-2")
    assert "\n" not in str(exc.value)


def test_unreachable_broker_fails_fast(broker: Mosquitto) -> None:
    port = free_port()
    admin = broker_admin.for_settings(settings_for(broker, mqtt_port=port))
    t0 = time.monotonic()
    with pytest.raises(BrokerAdminError, match=f"cannot reach the broker at 127.0.0.1:{port}"):
        admin.disable_device("hh-adm-3")
    assert time.monotonic() - t0 < 2


def test_a_hung_broker_times_out(tmp_path: Path) -> None:
    with Mosquitto(workdir=tmp_path / "hung") as hung:
        admin = broker_admin.for_settings(settings_for(hung, broker_admin_timeout_s=0.5))
        hung.pause()
        try:
            t0 = time.monotonic()
            with pytest.raises(BrokerAdminError, match="no dynsec answer .* within 0.5 s"):
                admin.create_device("hh-adm-4")
            assert time.monotonic() - t0 < 3
        finally:
            hung.resume()


def test_no_broker_accounts_in_development() -> None:
    admin = broker_admin.for_settings(Settings(env="development", broker_accounts="none"))
    assert isinstance(admin, NoBrokerAccounts)
    assert admin.create_device("hh-x") is None and admin.reset_password("hh-x") is None
    assert admin.disable_device("hh-x") is False
    admin.delete_device("hh-x")


def test_roles_made_by_an_older_hub_are_brought_up_to_date(broker: Mosquitto) -> None:
    """A device role without the firmware channel (issue 10's ACLs) gets fw / fwreq at the
    hub's start, once: a second pass adds nothing."""
    admin = broker_admin.for_settings(settings_for(broker))
    assert isinstance(admin, DynsecAdmin)
    old = [a for a in broker_admin.device_acls("hh-old") if "/fw" not in a["topic"]]
    (made,) = admin._run([{"command": "createRole", "rolename": "dev:hh-old", "acls": old}])
    assert not made.get("error"), made
    assert admin.upgrade_roles() >= 3  # fwreq publish, fw subscribe + receive
    assert admin.upgrade_roles() == 0
    (role,) = admin._run([{"command": "getRole", "rolename": "dev:hh-old"}])
    have = {(a["acltype"], a["topic"]) for a in role["data"]["role"]["acls"]}
    want = {(a["acltype"], a["topic"]) for a in broker_admin.device_acls("hh-old")}
    assert want <= have
