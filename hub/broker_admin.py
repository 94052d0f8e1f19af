"""The hub's control of device broker accounts (Mosquitto's dynamic-security plugin).

Every device has its own broker account: username = client id = device id, bound to that
client id, with its own role ``dev:<id>`` (Mosquitto 2.0.11 has no ``%c`` / ``%u`` in dynsec
ACLs). The hub's account (role ``hub``) reads device traffic, publishes commands, receipts and
the hub state, and drives ``$CONTROL/dynamic-security/v1``. docs/broker-security.md.

Each call is one short MQTT connection with the hub's credentials that sends one dynsec
command list and waits at most ``broker_admin_timeout_s`` for its answer; every failure is a
``BrokerAdminError`` whose text is one clear line.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub import mqtt_tls
from hub.settings import Settings
from protocol import topics

logger = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
HUB_ROLE = "hub"

Acl = dict[str, Any]


def _acl(acltype: str, topic: str, priority: int = 0) -> Acl:
    return {"acltype": acltype, "topic": topic, "priority": priority, "allow": True}


def device_role_name(device_id: str) -> str:
    return "dev:" + device_id


def device_acls(device_id: str) -> list[Acl]:
    """A device publishes only its own evt / blob / ack / state / fwreq and subscribes to (and
    receives) only its own cmd, rcpt and fw and the hub state. Everything else: default deny."""
    base = f"{topics.PREFIX}/{topics.validate_device_id(device_id)}"
    acls = [_acl("publishClientSend", f"{base}/{ch}") for ch in ("blob", "ack", "state", "fwreq")]
    acls.append(_acl("publishClientSend", f"{base}/evt/+"))
    for topic in (f"{base}/cmd", f"{base}/rcpt", f"{base}/fw", topics.HUB_STATE):
        acls += [_acl("subscribeLiteral", topic), _acl("publishClientReceive", topic)]
    return acls


def hub_acls() -> list[Acl]:
    """The hub reads all device traffic (plain and through any ``$share`` group: Mosquitto
    2.0.11 checks a shared subscription with its ``$share/<group>/`` prefix), publishes
    commands, receipts, firmware chunks and its state, and administers accounts."""
    all_dev = topics.PREFIX + "/#"
    acls = [
        _acl("subscribePattern", all_dev),
        _acl("subscribePattern", "$share/+/" + all_dev),
        _acl("publishClientReceive", all_dev),
        _acl("publishClientSend", f"{topics.PREFIX}/+/cmd"),
        _acl("publishClientSend", f"{topics.PREFIX}/+/rcpt"),
        _acl("publishClientSend", f"{topics.PREFIX}/+/fw"),
        _acl("publishClientSend", topics.HUB_STATE),
        _acl("publishClientSend", CONTROL_TOPIC),
        _acl("subscribeLiteral", RESPONSE_TOPIC),
        _acl("publishClientReceive", RESPONSE_TOPIC),
    ]
    return acls


@dataclass(frozen=True)
class DeviceAccount:
    username: str  # the device id
    password: str  # generated; shown once, the hub never stores it
    client_id: str  # the device id


class BrokerAdminError(Exception):
    """The broker is unreachable, did not answer in time, or refused a command."""


class AccountExistsError(BrokerAdminError):
    """create_device: the broker already has an account of that name."""


class BrokerAdmin(Protocol):
    def create_device(self, device_id: str) -> DeviceAccount | None: ...
    def reset_password(self, device_id: str) -> DeviceAccount | None: ...
    def disable_device(self, device_id: str) -> bool: ...
    def delete_device(self, device_id: str) -> None: ...
    def upgrade_roles(self) -> int: ...


def new_password() -> str:
    return secrets.token_urlsafe(24)


class NoBrokerAccounts:
    """``broker_accounts = "none"``: an anonymous development broker, nothing to manage."""

    def create_device(self, device_id: str) -> DeviceAccount | None:
        return None

    def reset_password(self, device_id: str) -> DeviceAccount | None:
        return None

    def disable_device(self, device_id: str) -> bool:
        return False

    def delete_device(self, device_id: str) -> None:
        return None

    def upgrade_roles(self) -> int:
        return 0


class DynsecAdmin:
    def __init__(self, settings: Settings) -> None:
        if not (settings.mqtt_username and settings.mqtt_password):
            raise BrokerAdminError("broker admin needs the hub's account (mqtt_username)")
        self.settings = settings

    def create_device(self, device_id: str) -> DeviceAccount:
        topics.validate_device_id(device_id)
        account = DeviceAccount(device_id, new_password(), device_id)
        role = device_role_name(device_id)
        answers = self._run(
            [
                {"command": "createRole", "rolename": role, "acls": device_acls(device_id)},
                {
                    "command": "createClient",
                    "username": device_id,
                    "password": account.password,
                    "clientid": device_id,
                    "textname": "gridlink device",
                    "roles": [{"rolename": role, "priority": 0}],
                },
            ]
        )
        role_error, client_error = (a.get("error") for a in answers)
        if client_error:
            if "exists" in client_error:
                raise AccountExistsError(f"broker account {device_id!r} already exists")
            raise BrokerAdminError(f"broker refused account {device_id!r}: {client_error}")
        if role_error and "exists" not in role_error:  # a left-over role has the same ACLs
            raise BrokerAdminError(f"broker refused role {role!r}: {role_error}")
        return account

    def reset_password(self, device_id: str) -> DeviceAccount:
        account = DeviceAccount(device_id, new_password(), device_id)
        cmd = {"command": "setClientPassword", "username": device_id}
        (answer,) = self._run([{**cmd, "password": account.password}])
        if answer.get("error"):
            raise BrokerAdminError(f"broker account {device_id!r}: {answer['error']}")
        return account

    def disable_device(self, device_id: str) -> bool:
        """Disable the account; Mosquitto drops its live session at once and refuses it from
        then on. An account that does not exist cannot connect either: True, with a warning."""
        (answer,) = self._run([{"command": "disableClient", "username": device_id}])
        error = answer.get("error")
        if error and "not found" in error.lower():
            logger.warning("broker admin: no account %r to disable (it cannot connect)", device_id)
        elif error:
            raise BrokerAdminError(f"broker account {device_id!r}: {error}")
        return True

    def delete_device(self, device_id: str) -> None:
        answers = self._run(
            [
                {"command": "deleteClient", "username": device_id},
                {"command": "deleteRole", "rolename": device_role_name(device_id)},
            ]
        )
        for answer in answers:
            error = answer.get("error")
            if error and "not found" not in error.lower():
                raise BrokerAdminError(f"broker account {device_id!r}: {error}")

    def upgrade_roles(self) -> int:
        """Bring the hub's role and every device role (made by an older hub) up to the ACLs
        this code gives them (``hub_acls`` / ``device_acls``), adding the missing ones.
        Idempotent; returns how many ACLs were added."""
        (listed,) = self._run([{"command": "listRoles", "verbose": True, "count": -1}])
        if listed.get("error"):
            raise BrokerAdminError(f"broker admin: listing roles: {listed['error']}")
        roles = (listed.get("data") or {}).get("roles") or []
        add: list[dict[str, Any]] = []
        for role in roles:
            name = role.get("rolename", "")
            if name == HUB_ROLE:
                want = hub_acls()
            elif name.startswith("dev:"):
                try:
                    want = device_acls(name[4:])
                except ValueError:
                    continue
            else:
                continue
            have = {(a.get("acltype"), a.get("topic")) for a in role.get("acls") or []}
            for acl in want:
                if (acl["acltype"], acl["topic"]) not in have:
                    add.append({"command": "addRoleACL", "rolename": name, **acl})
        for i in range(0, len(add), 100):
            for answer in self._run(add[i : i + 100]):
                error = answer.get("error")
                if error and "exists" not in error.lower():
                    raise BrokerAdminError(f"broker admin: adding an ACL: {error}")
        if add:
            logger.info("broker roles brought up to date: %d ACL(s) added", len(add))
        return len(add)

    # --- one dynsec exchange -----------------------------------------------------------------

    def _run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        s = self.settings
        where = f"{s.mqtt_host}:{s.mqtt_port}"
        timeout = s.broker_admin_timeout_s
        tag = secrets.token_hex(8)
        for i, cmd in enumerate(commands):
            cmd["correlationData"] = f"{tag}-{i}"
        v5 = s.mqtt_protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{s.mqtt_client_id or 'gridlink'}-admin-{tag}",
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        )
        assert s.mqtt_password is not None
        client.username_pw_set(s.mqtt_username, s.mqtt_password.get_secret_value())
        mqtt_tls.configure(client, s)
        done = threading.Event()
        state: dict[str, Any] = {"answers": {}, "refused": None}

        def on_connect(c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            if rc.is_failure:
                state["refused"] = str(rc)
                done.set()
            else:
                c.subscribe(RESPONSE_TOPIC, 1)

        def on_subscribe(c: paho.Client, _u: Any, _mid: Any, rcs: Any, _p: Any = None) -> None:
            if any(r.is_failure for r in rcs):
                state["refused"] = "subscribing to the dynsec response topic was denied"
                done.set()
            else:
                c.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)

        def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            try:
                responses = json.loads(msg.payload)["responses"]
            except (ValueError, KeyError, TypeError):
                return
            for r in responses:
                corr = r.get("correlationData", "")
                if isinstance(corr, str) and corr.startswith(tag + "-"):
                    state["answers"][corr] = r
            if len(state["answers"]) == len(commands):
                done.set()

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        try:
            client.connect(s.mqtt_host, s.mqtt_port, keepalive=max(5, int(timeout) + 5))
        except (OSError, ValueError) as exc:
            raise BrokerAdminError(
                f"broker admin: cannot reach the broker at {where}: {exc}"
            ) from None
        client.loop_start()
        try:
            if not done.wait(timeout):
                got = len(state["answers"])
                raise BrokerAdminError(
                    f"broker admin: no dynsec answer from {where} within {timeout:g} s "
                    f"({got} of {len(commands)} responses; is the dynamic-security plugin on?)"
                )
        finally:
            client.disconnect()
            client.loop_stop()
        if state["refused"]:
            raise BrokerAdminError(
                f"broker admin: the broker at {where} refused the hub's account "
                f"{s.mqtt_username!r}: {state['refused']}"
            )
        return [state["answers"][f"{tag}-{i}"] for i in range(len(commands))]


def for_settings(settings: Settings) -> BrokerAdmin:
    if settings.broker_accounts == "dynsec":
        return DynsecAdmin(settings)
    return NoBrokerAccounts()


def device_accounts(settings: Settings) -> Callable[[str], tuple[str, str]]:
    """``accounts(device_id) -> (username, password)`` for a simulated fleet (the demo,
    ``gridlink sim run --broker-accounts``): each device's own account, made with the hub's
    account; one that exists gets a new password."""
    admin = for_settings(settings)

    def account(device_id: str) -> tuple[str, str]:
        try:
            made = admin.create_device(device_id)
        except AccountExistsError:
            made = admin.reset_password(device_id)
        if made is None:
            raise BrokerAdminError("the hub's settings say GRIDLINK_BROKER_ACCOUNTS=none")
        return made.username, made.password

    return account
