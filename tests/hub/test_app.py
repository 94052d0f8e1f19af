"""``/healthz`` (liveness) and ``/readyz`` (schema at head, broker link) of ``create_app``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.app import create_app, schema_heads
from hub.db import make_engine
from hub.settings import Settings


def test_ready_on_a_migrated_database(settings: Settings) -> None:
    with TestClient(create_app(settings)) as api:
        resp = api.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"] == {"database": "ok", "broker": "not configured"}


def test_unmigrated_database_is_not_ready(tmp_path: Path) -> None:
    """Before: /healthz said ok here while /api/cases answered 500; nothing said why."""
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    settings = Settings(env="development", data_dir=tmp_path, database_url=f"sqlite:///{db}")
    with TestClient(create_app(settings)) as api:
        assert api.get("/healthz").status_code == 200  # alive
        resp = api.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["code"] == "not_ready" and body["checks"]["database"] != "ok"
    assert "not migrated" in body["message"] and "gridlink hub migrate" in body["message"]


def test_database_at_another_revision_is_not_ready(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    engine.dispose()
    with TestClient(create_app(settings)) as api:
        resp = api.get("/readyz")
    assert resp.status_code == 503
    head = ", ".join(sorted(schema_heads()))
    assert f"at revision 0000_older, this hub needs {head}" in resp.json()["message"]


def test_broker_link_down_is_not_ready(settings: Settings) -> None:
    link = {"up": False}
    with TestClient(create_app(settings, broker_connected=lambda: link["up"])) as api:
        down = api.get("/readyz")
        link["up"] = True
        up = api.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["broker"] == "not connected"
    assert f"{settings.mqtt_host}:{settings.mqtt_port}" in down.json()["message"]
    assert up.status_code == 200 and up.json()["checks"] == {"database": "ok", "broker": "ok"}
