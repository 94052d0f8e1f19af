"""The hub's FastAPI application factory, with its liveness and readiness endpoints.

``/healthz`` answers while the process serves HTTP (liveness). ``/readyz`` answers 200 only
when the database schema is at this hub's Alembic head and, when an ingest worker runs in the
process, its broker link is up; else 503 with the reasons (readiness: route traffic, or not).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from pathlib import Path

from alembic.script import ScriptDirectory
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

import hub
import hub.models  # noqa: F401  (registers every table)
from hub.api import ROUTERS
from hub.api.errors import install_error_handlers
from hub.api.nul import RefuseNul
from hub.clock import Clock, SystemClock
from hub.console import api as console_api
from hub.db import make_engine, make_session_factory
from hub.media.factory import make_media_store
from hub.settings import Settings

logger = logging.getLogger(__name__)

# The revision files only (read by Alembic, not imported): their head is the schema this code
# needs. hub.migrations.runner runs them.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

BrokerConnected = Callable[[], bool]


def schema_heads() -> set[str]:
    """The Alembic head revision(s) of this code."""
    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def database_problem(engine: Engine, heads: set[str] | None = None) -> str | None:
    """Why the database cannot serve this hub (unreachable, not migrated, another revision),
    or ``None`` when its schema is at head."""
    heads = schema_heads() if heads is None else heads
    try:
        with engine.connect() as conn:
            current: set[str] = set()
            if inspect(conn).has_table("alembic_version"):  # Alembic's own bookkeeping table
                current = set(
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"database unreachable: {reason[0] if reason else type(exc).__name__}"
    if current == heads:
        return None
    want = ", ".join(sorted(heads))
    if not current:
        return f"database not migrated (this hub needs revision {want}): run gridlink hub migrate"
    have = ", ".join(sorted(current))
    return f"database at revision {have}, this hub needs {want}: run gridlink hub migrate"


def settle_heap() -> None:
    """Call once the process has started (the app built, before serving): the objects made so
    far (modules, the app and its routes, SQLAlchemy's and pydantic's tables) live as long as
    the process, so they leave the garbage collector's generations (``gc.freeze``). Without
    it every full collection walks them all: 60-80 ms pauses, measured, at the dashboard's
    worker ranking of a 5,000-worker district (a request that allocates a lot)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    *,
    broker_connected: BrokerConnected | None = None,
) -> FastAPI:
    """The app for ``settings``; ``clock`` defaults to the system clock.

    ``broker_connected`` is given when an ingest worker runs in this process (``gridlink hub
    run``); ``/readyz`` then also needs it to answer ``True``.
    """
    app = FastAPI(
        title="Gridlink hub",
        version=hub.__version__,
        description="Cases, grids, workers and devices of the Gridlink city-grid system.",
        # /docs and /redoc come from hub.console, on vendored assets (no CDN)
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.media_store = make_media_store(settings)
    install_error_handlers(app)
    app.add_middleware(RefuseNul)  # PostgreSQL takes no NUL in text: a 422 for any
    for router in ROUTERS:
        app.include_router(router)
    console_api.mount_assets(app)
    heads = schema_heads()

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness: the process serves HTTP. Says nothing about the database or the broker."""
        return {"status": "ok", "version": hub.__version__}

    @app.get(
        "/readyz",
        tags=["meta"],
        responses={503: {"description": "not ready: `message` and `checks` say why"}},
    )
    def readyz() -> JSONResponse:
        """Readiness: the database schema is at head and the broker link (if any) is up."""
        checks: dict[str, str] = {}
        problems: list[str] = []
        db = database_problem(engine, heads)
        checks["database"] = db or "ok"
        if db:
            problems.append(db)
        if broker_connected is None:
            checks["broker"] = "not configured"
        elif broker_connected():
            checks["broker"] = "ok"
        else:
            checks["broker"] = "not connected"
            problems.append(f"broker {settings.mqtt_host}:{settings.mqtt_port} not connected")
        if problems:
            body = {
                "status": "not_ready",
                "code": "not_ready",
                "message": "; ".join(problems),
                "checks": checks,
            }
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "version": hub.__version__, "checks": checks})

    return app
