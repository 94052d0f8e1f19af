"""The hub's FastAPI application factory."""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI

import hub
import hub.models  # noqa: F401  (registers every table)
from hub.api.errors import install_error_handlers
from hub.clock import Clock, SystemClock
from hub.db import make_engine, make_session_factory
from hub.settings import Settings, get_settings

logger = logging.getLogger(__name__)

# Modules exposing ``router`` (an APIRouter), mounted in this order. Each domain adds its line.
ROUTERS: list[str] = [
    "hub.auth.api",
    "hub.areas.api",
    "hub.cases.api",
    "hub.devices.api",
    "hub.commands.api",
    "hub.events.api",
    "hub.media.api",
    "hub.stats.api",
    "hub.console.api",
]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Gridlink hub",
        version=hub.__version__,
        description="Cases, grids, workers and devices of the Gridlink city-grid system.",
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)
    for module_name in ROUTERS:
        module = importlib.import_module(module_name)
        app.include_router(module.router)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": hub.__version__}

    return app
