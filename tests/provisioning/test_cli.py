"""Operator mistakes are one line and exit 1, against a real hub over HTTP: an occupied grid,
a duplicate id, a bad token, an unreachable hub, an unknown serial port; list and revoke."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gridlink.cli import app
from tests.provisioning.conftest import LiveHub
from tests.support.net import free_port


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["provision", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def one_error(code: int, stderr: str) -> str:
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_operator_mistakes_are_one_line(live_hub: LiveHub, tmp_path: Path) -> None:
    grid = live_hub.demo.grids[0]
    out = str(tmp_path / "devices")
    new = ["new", "--kind", "handheld", "--grid", grid, "--key-on", "host", "--out", out]
    code, stdout, stderr = run(live_hub.env, *new, "--id", "hh-a")
    assert code == 0, stdout + stderr

    # a second handheld for the same grid: the hub's 409, naming the revoke command
    line = one_error(*run(live_hub.env, *new, "--id", "hh-b")[::2])
    assert line == (
        f"error: grid {grid} already has the active handheld hh-a: "
        "revoke it first with `gridlink provision revoke hh-a`"
    )
    # the same on the device path (checked before anything is written)
    line = one_error(*run(live_hub.env, *new[:-4], "--out", out, "--id", "hh-c")[::2])
    assert "already has the active handheld hh-a" in line
    assert not (tmp_path / "devices" / "hh-c").exists()
    # a duplicate id
    other = ["new", "--kind", "handheld", "--grid", live_hub.demo.grids[1], "--out", out]
    line = one_error(*run(live_hub.env, *other, "--id", "hh-a")[::2])
    assert "device hh-a is already registered at the hub (active)" in line
    # bad input
    assert "want the 14-digit" in one_error(
        *run(live_hub.env, *other[:3], "--grid", "12", "--id", "hh-x")[::2]
    )
    assert "forbidden character" in one_error(*run(live_hub.env, *other, "--id", "h h")[::2])
    # a bad token, an unreachable hub
    bad = {**live_hub.env, "GRIDLINK_ADMIN_TOKEN": "not-the-token"}
    assert "refused the admin token" in one_error(*run(bad, "list")[::2])
    gone = {**live_hub.env, "GRIDLINK_HUB_URL": f"http://127.0.0.1:{free_port()}"}
    assert "hub unreachable at http://127.0.0.1:" in one_error(*run(gone, "list")[::2])
    # an unknown serial port
    line = one_error(
        *run(live_hub.env, "flash", "--port", "/dev/ttyNOPE", "--out", out, "hh-a")[::2]
    )
    assert line == "error: no board at /dev/ttyNOPE: cannot open the serial port"
    # flash of a device never made
    assert "not provisioned under" in one_error(
        *run(live_hub.env, "flash", "--port", "/dev/ttyNOPE", "--out", out, "hh-zz")[::2]
    )

    code, stdout, stderr = run(live_hub.env, "list", "--kind", "handheld")
    assert code == 0 and "hh-a" in stdout and "active" in stdout, stderr

    code, stdout, stderr = run(live_hub.env, "revoke", "hh-a", "--reason", "lost", "--out", out)
    assert code == 0, stderr
    assert "hh-a: revoked at" in stdout
    assert live_hub.get("/api/devices/hh-a").json()["status"] == "revoked"
    # the grid is free again
    code, stdout, stderr = run(live_hub.env, *new, "--id", "hh-b")
    assert code == 0, stdout + stderr
    # revoke of an unknown device
    assert "hh-nope is not registered" in one_error(*run(live_hub.env, "revoke", "hh-nope")[::2])
