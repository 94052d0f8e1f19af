"""``gridlink hub migrate``, ``key``, ``seed-demo`` and ``run`` against a fresh SQLite file;
operator errors as one line; only ``migrate`` creates a database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from gridlink.cli import app as gridlink_app
from hub.areas.models import Grid
from hub.cli import app
from hub.db import DatabaseMissingError, make_engine, make_session_factory
from hub.keys import load
from hub.settings import get_settings
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI reads its settings from the environment: point them at ``tmp_path``."""
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    for name in ("GRIDLINK_DATABASE_URL", "GRIDLINK_ADMIN_TOKEN", "GRIDLINK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_migrate_then_seed_demo(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    key = load(tmp_path / "hub_key.pem")  # migrate creates the hub key
    assert key.public_key_hex in result.output
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"alembic_version", "cases", "case_transitions", "grids", "api_tokens"} <= tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    tokens = tmp_path / "tokens.json"
    result = runner.invoke(app, ["seed-demo", "--database-url", url, "--tokens-file", str(tokens)])
    assert result.exit_code == 0, result.output
    assert "district-operator" in result.output
    secrets = json.loads(tokens.read_text())
    assert all(value.startswith("glt_") for value in secrets.values())
    with make_session_factory(engine)() as db_session:
        assert len(db_session.scalars(select(Grid)).all()) == 8
    again = runner.invoke(app, ["seed-demo", "--database-url", url])
    assert again.exit_code == 1 and "already present" in again.output
    engine.dispose()


def test_key_creates_the_hub_key_once(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["key"])
    assert first.exit_code == 0, first.output
    key = load(tmp_path / "hub_key.pem")
    again = runner.invoke(app, ["key"])
    assert again.exit_code == 0 and key.public_key_hex in again.output
    assert load(tmp_path / "hub_key.pem") == key


def gridlink(*args: str) -> Result:
    """``gridlink ...`` in this process (the root command: it owns the error translation)."""
    return CliRunner().invoke(gridlink_app, list(args))


def assert_one_line_error(result: Result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_migrate_into_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "x.db"
    result = gridlink("hub", "migrate", "--database-url", f"sqlite:///{target}")
    assert_one_line_error(result, f"no directory {target.parent}")
    assert not target.parent.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["seed-demo"], "seed-demo"),
        (["run", "--no-ingest"], "run"),
        (["ingest"], "ingest"),
    ],
)
def test_only_migrate_creates_a_database(tmp_path: Path, args: list[str], needle: str) -> None:
    missing = tmp_path / "missing.db"
    result = gridlink("hub", *args, "--database-url", f"sqlite:///{missing}")
    assert_one_line_error(result, f"no database at {missing}", "run gridlink hub migrate")
    assert not missing.exists(), needle


def test_migrate_creates_the_default_data_dir(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "fresh" / "hub"
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(data))
    result = gridlink("hub", "migrate")
    assert result.exit_code == 0, result.output
    assert (data / "hub.db").is_file() and (data / "hub_key.pem").is_file()


def test_run_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = gridlink("hub", "run", "--no-ingest", "--database-url", f"sqlite:///{empty}")
    assert_one_line_error(result, "not migrated", "run gridlink hub migrate")


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (
            ["hub", "migrate", "--database-url", "postgresql+psycopg://u:s3cret@127.0.0.1:abc/db"],
            {},
            ["GRIDLINK_DATABASE_URL", "numeric port"],
        ),
        (["hub", "migrate", "--database-url", "nosuchdb://x/y"], {}, ["bad database URL"]),
        (["hub", "run", "--no-ingest"], {"GRIDLINK_API_PORT": "eighty"}, ["GRIDLINK_API_PORT"]),
        (["hub", "key"], {"GRIDLINK_ENV": "production"}, ["GRIDLINK_ADMIN_TOKEN"]),
        (
            ["hub", "key"],
            {"GRIDLINK_ENV": "production", "GRIDLINK_ADMIN_TOKEN": "a" * 16},
            ["GRIDLINK_ADMIN_TOKEN", "too weak"],
        ),
        (["hub", "run", "--no-ingest", "--host", "0.0.0.0"], {}, ["loopback"]),
    ],
)
def test_operator_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], needles: list[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = assert_one_line_error(gridlink(*args), *needles)
    assert "s3cret" not in line


def test_run_with_a_bad_tls_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hub run`` with a TLS file hub.mqtt_tls cannot use: one line naming the setting,
    exit 1, before the ingest worker, the API or a migration starts."""
    from tests.support.tls import Pki

    pki = Pki.create(tmp_path / "pki")
    url = f"sqlite:///{tmp_path / 'tls.db'}"
    assert gridlink("hub", "migrate", "--database-url", url).exit_code == 0
    monkeypatch.setenv("GRIDLINK_MQTT_TLS", "true")
    monkeypatch.setenv("GRIDLINK_MQTT_TLS_CA", str(pki.ca_der))  # DER: paho wants PEM
    line = assert_one_line_error(gridlink("hub", "run", "--database-url", url))
    assert line == (
        f"error: mqtt_tls: GRIDLINK_MQTT_TLS_CA={pki.ca_der}: not a PEM CA certificate"
        " (NO_CERTIFICATE_OR_CRL_FOUND)"
    ), line
    missing = tmp_path / "nope.pem"
    monkeypatch.setenv("GRIDLINK_MQTT_TLS_CA", str(missing))
    fresh = tmp_path / "fresh.db"
    result = gridlink("hub", "run", "--migrate", "--database-url", f"sqlite:///{fresh}")
    assert_one_line_error(result, f"GRIDLINK_MQTT_TLS_CA={missing}: no such file")
    assert not fresh.exists()  # nothing was changed
    # the ingest-only command the same way
    result = gridlink("hub", "ingest", "--database-url", url)
    assert_one_line_error(result, f"GRIDLINK_MQTT_TLS_CA={missing}: no such file")


def test_unreachable_postgres_is_one_line() -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql+psycopg://gridlink:s3cret@127.0.0.1:{free_port()}/hub"
    line = assert_one_line_error(gridlink("hub", "migrate", "--database-url", url), "database")
    assert "s3cret" not in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    result = gridlink("--debug", "hub", "seed-demo", "--database-url", url)
    assert isinstance(result.exception, DatabaseMissingError)


def _hub_run(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridlink.cli", "hub", "run", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> dict:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            resp = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            if resp.status_code == 200:
                return dict(resp.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"hub not ready on port {port}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_ingest_and_exits_0_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """``hub run --database-url`` on a migrated file; the signal stops uvicorn, then the ingest
    worker (its drain and the offline hub state), and the process exits 0 instead of dying."""
    url = f"sqlite:///{tmp_path / 'run.db'}"
    assert gridlink("hub", "migrate", "--database-url", url).exit_code == 0
    port = free_port()
    with Mosquitto(workdir=tmp_path / "broker") as broker:
        env = {
            "GRIDLINK_DATA_DIR": str(tmp_path),
            "GRIDLINK_ENV": "development",
            "GRIDLINK_MQTT_HOST": broker.host,
            "GRIDLINK_MQTT_PORT": str(broker.port),
            "GRIDLINK_MQTT_USERNAME": broker.hub_account[0],  # the locked-down broker
            "GRIDLINK_MQTT_PASSWORD": broker.hub_account[1],
        }
        proc = _hub_run("--database-url", url, "--port", str(port), env=env)
        try:
            ready = _wait_ready(port, proc)
            assert ready["checks"] == {"database": "ok", "broker": "ok"}
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, out
        assert out.index("stopping the ingest worker") < out.index("hub stopped"), out
        assert "Traceback" not in out
        assert "disconnected." in broker.log()  # a clean DISCONNECT, not a dropped socket
