"""`gridlink sim run` end to end: N real firmware processes, a real broker, keys written."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gridlink.cli import app
from tests.support.mosquitto import Mosquitto


def test_sim_run_two_devices(tmp_path):
    with Mosquitto() as broker:
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
                "--timeout",
                "60",
            ],
        )
    assert r.exit_code == 0, r.output
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
