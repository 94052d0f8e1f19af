"""The broker-account administration as a request dependency (tests override
``get_broker_admin`` with a recording fake through ``app.dependency_overrides``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from hub import broker_admin
from hub.broker_admin import BrokerAdmin
from hub.deps import SettingsDep


def get_broker_admin(settings: SettingsDep) -> BrokerAdmin:
    return broker_admin.for_settings(settings)


BrokerAdminDep = Annotated[BrokerAdmin, Depends(get_broker_admin)]


def broker_unavailable_body(exc: broker_admin.BrokerAdminError) -> dict[str, str]:
    """The 503 body when the broker refused or did not answer (one line)."""
    return {"code": "broker_unavailable", "message": f"broker: {exc}"}
