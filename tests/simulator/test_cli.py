"""`gridlink sim run` end to end: N real firmware processes, a real broker, keys written; an
unreachable broker, a hub that rejects the devices, no secret printed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlink.cli import app
from hub.keys import load
from tests.support.hub import Hub
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port


# The hub fixture (tests/support/hub.py) runs on this file's broker: the locked-down one, with
# `sim run --broker-accounts` making each device's account with the hub's (from the environment).
@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as mosq:
        yield mosq


def hub_env(broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = broker.hub_account or ("", "")
    monkeypatch.setenv("GRIDLINK_MQTT_USERNAME", user)
    monkeypatch.setenv("GRIDLINK_MQTT_PASSWORD", password)


def test_sim_run_two_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Mosquitto() as broker:
        hub_env(broker, monkeypatch)
        keys = tmp_path / "keys.json"
        r = CliRunner().invoke(
            app,
            [
                "sim",
                "run",
                "--devices",
                "2",
                "--broker",
                f"{broker.host}:{broker.port}",
                "--scenario",
                "patrol",
                "--root",
                str(tmp_path / "fleet"),
                "--keys-out",
                str(keys),
                "--broker-accounts",
                "--timeout",
                "60",
            ],
        )
    assert r.exit_code == 0, r.output
    assert "seed" not in r.output.lower()  # the hub command seed is a secret: never printed
    rows = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert [row["device"] for row in rows] == ["hh-0001", "hh-0002"]
    assert all(row["rc"] == 0 and row["seq"] >= 5 for row in rows)
    k = json.loads(keys.read_text())
    assert set(k["devices"]) == {"hh-0001", "hh-0002"} and len(k["hub_public_key"]) == 64


def test_sim_scenario_prints_jsonl():
    r = CliRunner().invoke(app, ["sim", "scenario", "big_report"])
    assert r.exit_code == 0
    acts = [json.loads(line) for line in r.output.splitlines()]
    assert acts[1]["photo_bytes"] == 2 * 1024 * 1024 and acts[1]["audio_s"] == 20


def test_sim_run_fails_fast_on_an_unreachable_broker(tmp_path: Path) -> None:
    """Before: it waited for its whole timeout and ended in a traceback."""
    t0 = time.monotonic()
    r = CliRunner().invoke(
        app,
        ["sim", "run", "--broker", f"127.0.0.1:{free_port()}", "--root", str(tmp_path / "f")],
        catch_exceptions=False,
    )
    assert time.monotonic() - t0 < 8
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the MQTT broker at 127.0.0.1:" in lines[0], r.output
    assert "Traceback" not in r.output


def test_sim_run_on_a_locked_down_broker_needs_the_hub_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDLINK_MQTT_USERNAME", raising=False)
    monkeypatch.delenv("GRIDLINK_MQTT_PASSWORD", raising=False)
    with Mosquitto() as broker:
        r = CliRunner().invoke(
            app,
            ["sim", "run", "--broker", f"{broker.host}:{broker.port}", "--broker-accounts",
             "--root", str(tmp_path / "f")],
        )  # fmt: skip
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().splitlines() == [
        "error: --broker-accounts needs the hub's broker account: set GRIDLINK_MQTT_USERNAME "
        "and GRIDLINK_MQTT_PASSWORD"
    ], r.output


def test_sim_run_exits_1_when_the_hub_rejects_its_devices(
    tmp_path: Path, hub: Hub, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub does not know hh-0001 (it has a broker account, not a registration): it rejects
    every event and sends no receipt."""
    hub_env(broker, monkeypatch)
    key_path = hub.settings.hub_key_path
    r = CliRunner().invoke(
        app,
        [
            "sim",
            "run",
            "--broker",
            f"{hub.settings.mqtt_host}:{hub.settings.mqtt_port}",
            "--hub-key",
            str(key_path),
            "--root",
            str(tmp_path / "fleet"),
            "--timeout",
            "12",
            "--broker-accounts",
        ],
    )
    assert r.exit_code == 1, r.output
    assert "hh-0001: the hub confirmed seq 0 of" in r.stderr, r.output
    assert load(key_path).seed.hex() not in r.output
    assert load(key_path).public_key_hex in r.output
    rejected = {r["reason"]: r for r in hub.get("/api/events/rejections")}
    assert rejected["unknown_device"]["last_device_id"] == "hh-0001"  # seen, counted, refused
