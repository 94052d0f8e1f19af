"""``gridlink provision new`` + ``flash`` for real: the MicroPython unix port on a pty as the
board (tests/support/board.py), mpremote's serial transport to it, Mosquitto, and the hub as its
own process over HTTP; each ends with the device's signed birth at the hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlink.cli import app
from protocol import crypto
from tests.provisioning.conftest import LiveHub
from tests.support.board import PtyBoard
from tests.support.waiting import wait_until

pytestmark = pytest.mark.hil

ROUTE = [[30274000, 120155000], [30275000, 120156000]]


def sim_extra(tmp_path: Path) -> Path:
    """What a simulated handheld needs beyond provisioning's config: its simulated route, no
    scenario, and it keeps running."""
    path = tmp_path / "extra.json"
    path.write_text(json.dumps({"sim": {"route": ROUTE}, "heartbeat_s": 60, "track_s": 0}))
    return path


def provision(live: LiveHub, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["provision", *args], env=live.env)
    return result.exit_code, result.stdout, result.stderr


def test_new_and_flash_with_the_key_made_here(live_hub: LiveHub, tmp_path: Path) -> None:
    grid = live_hub.demo.grids[0]
    dev = f"hh-{grid}"
    out = tmp_path / "devices"
    code, stdout, stderr = provision(
        live_hub,
        "new",
        "--id",
        dev,
        "--kind",
        "handheld",
        "--grid",
        grid,
        "--key-on",
        "host",
        "--out",
        str(out),
        "--broker-host",
        live_hub.broker.host,
        "--broker-port",
        str(live_hub.broker.port),
        "--hal",
        "sim",
        "--config-json",
        str(sim_extra(tmp_path)),
    )
    assert code == 0, stdout + stderr
    cfg = json.loads((out / dev / "config.json").read_text())
    seed = cfg["key"]
    record = json.loads((out / dev / "device.json").read_text())
    assert record["status"] == "registered"
    assert record["public_key"] == crypto.public_key(bytes.fromhex(seed)).hex()
    hub_dev = live_hub.get(f"/api/devices/{dev}").json()
    assert hub_dev["public_key"] == record["public_key"] and not hub_dev["online"]

    with PtyBoard(tmp_path / "board") as board:
        code, stdout, stderr = provision(
            live_hub, "flash", "--port", board.port, "--out", str(out), "--wait", "90", dev
        )
        assert code == 0, stdout + stderr + board.output()[-3000:]
        assert "online at the hub" in stdout
        hub_dev = live_hub.get(f"/api/devices/{dev}").json()
        assert hub_dev["online"] and hub_dev["session"] >= 1
        # the board has the firmware and the seed; the workstation no longer has the seed
        assert json.loads(board.path("config.json").read_text())["key"] == seed
        slot = "flash/fw/a"  # the OTA layout: the loader as main.py, the firmware in slot a
        assert board.path(f"{slot}/lib/device.mpy").exists()
        assert board.path(f"{slot}/protocol/ed25519.mpy").exists()
        assert "key" not in json.loads((out / dev / "config.json").read_text())
        for path in out.rglob("*"):
            if path.is_file():
                assert seed not in path.read_text(), path
        assert seed not in stdout + stderr


def test_new_and_flash_with_the_key_made_on_the_board(live_hub: LiveHub, tmp_path: Path) -> None:
    grid = live_hub.demo.grids[1]
    dev = f"hh-{grid}"
    out = tmp_path / "devices"
    code, stdout, stderr = provision(
        live_hub,
        "new",
        "--id",
        dev,
        "--kind",
        "handheld",
        "--grid",
        grid,
        "--out",
        str(out),
        "--broker-host",
        live_hub.broker.host,
        "--broker-port",
        str(live_hub.broker.port),
        "--hal",
        "sim",
        "--config-json",
        str(sim_extra(tmp_path)),
    )
    assert code == 0, stdout + stderr
    assert "pending" in stdout
    assert "key" not in json.loads((out / dev / "config.json").read_text())
    assert live_hub.get(f"/api/devices/{dev}").status_code == 404  # registered at flash

    with PtyBoard(tmp_path / "board") as board:
        code, stdout, stderr = provision(
            live_hub, "flash", "--port", board.port, "--out", str(out), "--wait", "90", dev
        )
        assert code == 0, stdout + stderr + board.output()[-3000:]
        assert "online at the hub" in stdout
        seed = board.path("flash/key").read_text().strip()  # made by the board, kept there
        pub = crypto.public_key(bytes.fromhex(seed)).hex()
        assert board.path("flash/key.pub").read_text().strip() == pub
        hub_dev = live_hub.get(f"/api/devices/{dev}").json()
        assert hub_dev["public_key"] == pub and hub_dev["online"] and hub_dev["session"] >= 1
        assert "key" not in json.loads(board.path("config.json").read_text())
        # the seed never left the board: not in what the CLI printed, nor in any file it wrote
        assert pub in stdout and seed not in stdout + stderr
        for path in [*out.rglob("*"), *tmp_path.glob("*.json")]:
            if path.is_file():
                assert seed not in path.read_text(errors="replace"), path

        # a new key by signed command: the board makes it, announces it signed by the old
        # one (a `key` event in its chain), and the hub switches to it
        code, stdout, stderr = provision(live_hub, "rotate", "--wait", "60", dev)
        assert code == 0, stdout + stderr + board.output()[-3000:]
        rotated = board.path("flash/key").read_text().strip()
        new_pub = crypto.public_key(bytes.fromhex(rotated)).hex()
        assert rotated != seed and new_pub in stdout and rotated not in stdout + stderr
        hub_dev = wait_until(
            "the hub on the new key",
            lambda: (
                (d := live_hub.get(f"/api/devices/{dev}").json())["public_key"] == new_pub and d
            ),
            30,
        )
        assert hub_dev["previous_key_until"] is not None  # the old key, for the overlap
        seed = rotated

    # flashing again (a firmware update) keeps the key and the registration. The board is
    # power-cycled first: the unix port reads no Ctrl-C while the firmware runs (a board's
    # UART interrupt does), so mpremote could not interrupt it (docs/provisioning.md)
    with PtyBoard(tmp_path / "board") as board:
        code, stdout, stderr = provision(
            live_hub, "flash", "--port", board.port, "--out", str(out), "--wait", "0", dev
        )
        assert code == 0, stdout + stderr
        assert board.path("flash/key").read_text().strip() == seed

    # the same board (power-cycled) as a new device: refused, or the old identity (key, seq,
    # outbox) would carry over to the new id
    with PtyBoard(tmp_path / "board") as board:
        other = f"hh-{live_hub.demo.grids[2]}"
        code, stdout, stderr = provision(
            live_hub, "new", "--id", other, "--kind", "handheld", "--grid",
            live_hub.demo.grids[2], "--out", str(out), "--broker-host", live_hub.broker.host,
            "--broker-port", str(live_hub.broker.port), "--hal", "sim",
        )  # fmt: skip
        assert code == 0, stdout + stderr
        code, stdout, stderr = provision(
            live_hub, "flash", "--port", board.port, "--out", str(out), "--wait", "0", other
        )
        assert code == 1 and stderr.strip().count("\n") == 0, stdout + stderr
        assert "already holds a device identity" in stderr and "fs rm -r :flash" in stderr
        assert live_hub.get(f"/api/devices/{other}").status_code == 404  # nothing registered
