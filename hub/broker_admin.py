"""Broker accounts of devices (contract of issue 10, "Broker accounts").

PLACEHOLDER of branch i10-revoke: engineer B builds the real module (``DynsecAdmin`` over
Mosquitto's dynamic-security plugin) on branch i10-broker; at merge B's file replaces this one.
It holds exactly the contract's names so that the devices domain can be written against them;
``for_settings`` returns ``NoBrokerAccounts()`` for ``broker_accounts="none"`` and is not
implemented for "dynsec" here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hub.settings import Settings


@dataclass(frozen=True)
class DeviceAccount:
    username: str  # the device id
    password: str  # generated; shown once, the hub never stores it
    client_id: str  # the device id


class BrokerAdminError(Exception):
    """The broker is unreachable, timed out, or refused a command; ``str(exc)`` is one line."""


class BrokerAdmin(Protocol):
    def create_device(self, device_id: str) -> DeviceAccount | None: ...

    def reset_password(self, device_id: str) -> DeviceAccount | None: ...

    def disable_device(self, device_id: str) -> bool: ...

    def delete_device(self, device_id: str) -> None: ...


class NoBrokerAccounts:
    """``broker_accounts="none"``: an anonymous broker (development only), nothing to manage."""

    def create_device(self, device_id: str) -> DeviceAccount | None:
        return None

    def reset_password(self, device_id: str) -> DeviceAccount | None:
        return None

    def disable_device(self, device_id: str) -> bool:
        return False

    def delete_device(self, device_id: str) -> None:
        return None


def for_settings(settings: Settings) -> BrokerAdmin:
    if settings.broker_accounts == "dynsec":
        raise NotImplementedError("DynsecAdmin comes with branch i10-broker (hub/broker_admin.py)")
    return NoBrokerAccounts()
