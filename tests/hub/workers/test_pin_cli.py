"""``gridlink hub worker-pin WORKER``: the PIN from standard input (or a prompt), checked as
the API checks it; mistakes are one line."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridlink.cli import app as gridlink_app
from hub.seed import DemoData
from hub.settings import Settings
from hub.workers.models import WorkerPin
from protocol import pin as pin_mod

W = "w00100101"


@pytest.fixture(autouse=True)
def _env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    monkeypatch.setenv("GRIDLINK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(settings.data_dir))


def test_worker_pin_reads_standard_input(
    client: TestClient, demo: DemoData, db_session: Session
) -> None:
    result = CliRunner().invoke(gridlink_app, ["hub", "worker-pin", W], input="5820\n")
    assert result.exit_code == 0, result.output
    assert f"PIN set for worker {W}" in result.output and "5820" not in result.output
    row = db_session.get(WorkerPin, W)
    assert row is not None and row.set_by.startswith("cli:")
    assert pin_mod.check([row.salt_hex, row.iterations, row.hash_hex], "5820")


@pytest.mark.parametrize(
    ("worker", "stdin", "needle"),
    [
        (W, "1234\n", "this PIN is too easy to guess"),
        (W, "12a4\n", "a PIN is 4 to 8 digits"),
        (W, "", "no PIN on standard input"),
        ("nobody", "5820\n", "worker nobody not found"),
    ],
)
def test_worker_pin_mistakes_are_one_line(
    client: TestClient, demo: DemoData, db_session: Session, worker: str, stdin: str, needle: str
) -> None:
    result = CliRunner().invoke(gridlink_app, ["hub", "worker-pin", worker], input=stdin)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {needle}"), result.stderr
    assert db_session.get(WorkerPin, W) is None
