"""``gridlink provision batch``: a bad row is one line naming it and the others go on; the
state file next to the CSV makes a re-run resume (done rows skipped, fixed rows done)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gridlink.cli import app
from tests.provisioning.conftest import LiveHub


def run(live: LiveHub, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["provision", *args], env=live.env)
    return result.exit_code, result.stdout, result.stderr


def test_batch_reports_bad_rows_and_resumes(live_hub: LiveHub, tmp_path: Path) -> None:
    g0, g1, g2 = live_hub.demo.grids[:3]
    csv_path = tmp_path / "devices.csv"
    rows = [
        "id,kind,grid,community,doors,port,key_on",
        f"hh-1,handheld,{g0},,,,host",
        "hh-2,handset,,,,,host",  # row 3: bad kind
        f"hh-3,handheld,{g0},,,,host",  # row 4: the grid already has hh-1
        f"hh-4,handheld,{g1},,,,device",
        f"gt-1,access,{g2},{g2[:12]},d1;d2:out,,host",
    ]
    csv_path.write_text("\n".join(rows) + "\n")
    out = str(tmp_path / "devices")
    code, stdout, stderr = run(live_hub, "batch", str(csv_path), "--out", out)
    assert code == 1
    errors = stderr.strip().splitlines()
    assert (
        errors[0] == "error: row 3 (hh-2): kind 'handset': one of handheld, access, face, barrier"
    )
    assert errors[1].startswith(f"error: row 4 (hh-3): grid {g0} already has the active handheld")
    assert len(errors) == 2 and "Traceback" not in stderr
    assert "3 done (0 already), 2 failed" in stdout
    state = json.loads((tmp_path / "devices.csv.state.json").read_text())
    assert state == {"hh-1": "created", "hh-4": "created", "gt-1": "created"}
    assert live_hub.get("/api/devices/gt-1").json()["grid_code"] == g2
    gate_cfg = json.loads((tmp_path / "devices" / "gt-1" / "config.json").read_text())
    assert gate_cfg["community"] == g2[:12] and [d["id"] for d in gate_cfg["doors"]] == ["d1", "d2"]
    assert live_hub.get("/api/devices/hh-4").status_code == 404  # pending: its board makes the key

    # fix the two rows and run again: the three done are skipped, the two fixed are done
    rows[3] = f"hh-3,handheld,{g1},,,,device"
    rows[2] = f"hh-2,face,{g2},{g2[:12]},d1,,host"
    csv_path.write_text("\n".join(rows) + "\n")
    code, stdout, stderr = run(live_hub, "batch", str(csv_path), "--out", out)
    assert code == 0, stdout + stderr
    assert "5 done (3 already), 0 failed" in stdout
    state = json.loads((tmp_path / "devices.csv.state.json").read_text())
    assert set(state) == {"hh-1", "hh-2", "hh-3", "hh-4", "gt-1"}


def test_batch_header_must_be_known(live_hub: LiveHub, tmp_path: Path) -> None:
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text("id,kind,colour\nhh-1,handheld,red\n")
    code, _, stderr = run(live_hub, "batch", str(csv_path))
    assert code == 1
    assert stderr.strip() == (
        f"error: {csv_path}: the header must name id and kind (columns: id, kind, grid, "
        "community, doors, port, key_on); unknown: colour"
    )
