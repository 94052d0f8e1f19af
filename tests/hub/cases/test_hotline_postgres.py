"""Two imports of one hotline ticket at once on PostgreSQL, where the later one's insert waits
for the earlier one and then hits the ticket id's unique constraint: it answers ``existing``
with the earlier one's case (test_hotline.py runs the same race on SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.cases.models import Case, HotlineTicket
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.migrations.runner import downgrade, upgrade
from hub.seed import seed_demo
from hub.settings import Settings
from tests.hub.cases.test_hotline import race_an_import
from tests.hub.conftest import START
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the module's cluster fixture

pytestmark = pytest.mark.slow


def test_two_imports_of_one_ticket_at_once_on_postgres(
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    upgrade(postgres_url)
    settings = Settings(env="development", data_dir=tmp_path, database_url=postgres_url)
    clock = FrozenClock(START)
    engine = make_engine(postgres_url)
    try:
        factory = make_session_factory(engine)
        with factory() as db_session:
            demo = seed_demo(db_session=db_session, clock=clock)
            db_session.commit()
        app = create_app(settings=settings, clock=clock)
        with TestClient(app) as client:
            item, case_id = race_an_import(client, demo, factory, clock, settings,
                                           first_ticket="P-1", second_ticket="P-1")  # fmt: skip
        app.state.engine.dispose()
        assert (item["status"], item["case_id"], item["error"]) == ("existing", case_id, None)
        with factory() as s:
            assert s.scalars(select(HotlineTicket.case_id)).all() == [case_id]
            assert s.scalar(select(func.count()).select_from(Case)) == 1
    finally:
        engine.dispose()
        downgrade(postgres_url)
