"""The top of the hub's HTTP side: every domain router, in mounting order, and error mapping.

Domain routers depend on ``hub.deps`` and ``hub.auth.deps``, never on this package.
"""

from __future__ import annotations

from fastapi import APIRouter

from hub.access import api as access_api
from hub.areas import api as areas_api
from hub.assessment import api as assessment_api
from hub.auth import api as auth_api
from hub.basedata import api as basedata_api
from hub.cases import api as cases_api
from hub.commands import api as commands_api
from hub.console import api as console_api
from hub.devices import api as devices_api
from hub.events import api as events_api
from hub.fleet import api as fleet_api
from hub.live import api as live_api
from hub.media import api as media_api
from hub.notify import api as notify_api
from hub.ota import api as ota_api
from hub.privacy import api as privacy_api
from hub.stats import api as stats_api
from hub.workers import api as workers_api

ROUTERS: list[APIRouter] = [
    auth_api.router,
    areas_api.router,
    cases_api.router,
    devices_api.router,
    commands_api.devices_router,
    commands_api.router,
    events_api.router,
    media_api.router,
    notify_api.router,
    access_api.router,
    stats_api.router,
    workers_api.router,
    assessment_api.router,
    fleet_api.router,
    live_api.router,
    ota_api.router,
    basedata_api.router,
    privacy_api.router,
    console_api.router,
]
