"""The hub's FastAPI application factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI

import hub
import hub.models  # noqa: F401  (registers every table)
from hub.api import ROUTERS
from hub.api.errors import install_error_handlers
from hub.clock import Clock, SystemClock
from hub.db import make_engine, make_session_factory
from hub.settings import Settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """The app for ``settings``; ``clock`` defaults to the system clock."""
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
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": hub.__version__}

    return app
