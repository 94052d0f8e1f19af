"""The case detail scenario of test_case_detail.py on PostgreSQL (the name look-ups, the
units' DISTINCT join, the community's grids): the same API, the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.hub.cases.test_case_detail import run_scenario
from tests.hub.conftest import START
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the module's cluster fixture

pytestmark = pytest.mark.slow


def test_the_case_detail_on_postgres(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    upgrade(postgres_url)
    settings = Settings(
        env="development",
        data_dir=tmp_path,
        database_url=postgres_url,
        verify_distance_m=100,
        verify_window_s=3600,
    )
    clock = FrozenClock(START)
    engine = make_engine(postgres_url)
    try:
        factory = make_session_factory(engine)
        with factory() as db_session:
            demo = seed_demo(db_session=db_session, clock=clock)
            db_session.commit()
        app = create_app(settings=settings, clock=clock)
        with TestClient(app) as client:
            run_scenario(client, demo, factory, clock, settings)
        app.state.engine.dispose()
    finally:
        engine.dispose()
