"""``gridlink provision flash`` with the OTA layout: the loader as the board's main.py, the
firmware in slot a (``flash/fw/a/``), ``flash/fw/boot.json`` naming it, ``ops_key`` and ``hw``
in the config, and the device online at the hub, started through the loader.

firmware/loader.py is written in parallel with this (by the firmware side), so the test
flashes a copy of the tree (``--src``) holding a small stand-in loader that follows the
contract's boot path (config -> flash -> fw/boot.json -> the slot first on sys.path -> its
main). The real loader replaces it after the merge.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridlink.cli import app
from protocol import crypto
from provisioning.bundle import firmware_files, source_version
from tests.provisioning.conftest import LiveHub
from tests.provisioning.test_flash import sim_extra
from tests.support.board import PtyBoard

pytestmark = pytest.mark.hil
REPO = Path(__file__).resolve().parents[2]


def provision(live: LiveHub, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["provision", *args], env=live.env)
    return result.exit_code, result.stdout, result.stderr


def test_flash_installs_the_loader_and_slot_a(live_hub: LiveHub, tmp_path: Path) -> None:
    grid = live_hub.demo.grids[0]
    dev = f"hh-{grid}"
    out = tmp_path / "devices"
    src = REPO  # with the real firmware/loader.py
    ops_pub = crypto.public_key(crypto.new_seed()).hex()
    code, stdout, stderr = provision(
        live_hub, "new", "--id", dev, "--kind", "handheld", "--grid", grid, "--out", str(out),
        "--broker-host", live_hub.broker.host, "--broker-port", str(live_hub.broker.port),
        "--hal", "sim", "--config-json", str(sim_extra(tmp_path)),
        "--ops-pub", ops_pub.upper(), "--hw", "sim-unix",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    cfg = json.loads((out / dev / "config.json").read_text())
    assert cfg["ops_key"] == ops_pub and cfg["hw"] == "sim-unix"

    # not a source tree: refused before the board is opened
    code, stdout, stderr = provision(
        live_hub, "flash", "--port", "/dev/ttyNOPE", "--out", str(out), "--layout", "ota",
        "--src", str(tmp_path / "nowhere"), dev,
    )  # fmt: skip
    assert code == 1 and stderr.strip().count("\n") == 0, stdout + stderr
    assert "not a Gridlink source tree" in stderr

    with PtyBoard(tmp_path / "board") as board:
        code, stdout, stderr = provision(
            live_hub, "flash", "--port", board.port, "--out", str(out), "--wait", "90",
            "--src", str(src), dev,
        )  # fmt: skip
        assert code == 0, stdout + stderr + board.output()[-3000:]
        assert "online at the hub" in stdout
        assert board.path("main.py").read_bytes() == (REPO / "firmware" / "loader.py").read_bytes()
        for local, path in firmware_files(src):
            assert board.path(f"flash/fw/a/{path}").read_bytes() == local.read_bytes(), path
        assert not board.path("lib").exists() and not board.path("protocol").exists()
        boot = json.loads(board.path("flash/fw/boot.json").read_text())
        assert boot == {
            "slot": "a", "version": source_version(src), "trial": None, "rolled_back": None
        }  # fmt: skip
        on_board = json.loads(board.path("config.json").read_text())
        assert on_board["ops_key"] == ops_pub and on_board["hw"] == "sim-unix"
        assert live_hub.get(f"/api/devices/{dev}").json()["online"]

    # what an earlier firmware left under fw/ (slot b, a download, a job, a stale module) is
    # gone after a flash; the identity under flash/ stays. A new --hw replaces the config's
    seed = board.path("flash/key").read_text().strip()
    for stale in ("flash/fw/b/main.py", "flash/fw/stage/lib/x.py.part", "flash/fw/a/lib/old.py"):
        board.path(stale).parent.mkdir(parents=True, exist_ok=True)
        board.path(stale).write_text("x = 1\n")
    board.path("flash/fw/job.json").write_text("{}")
    with PtyBoard(tmp_path / "board") as board:
        code, stdout, stderr = provision(
            live_hub, "flash", "--port", board.port, "--out", str(out), "--wait", "0",
            "--src", str(src), "--hw", "sim-unix-2", dev,
        )  # fmt: skip
        assert code == 0, stdout + stderr + board.output()[-3000:]
        for stale in ("flash/fw/b", "flash/fw/stage", "flash/fw/job.json", "flash/fw/a/lib/old.py"):
            assert not board.path(stale).exists(), stale
        assert board.path("flash/fw/a/lib/device.mpy").exists()
        assert json.loads(board.path("config.json").read_text())["hw"] == "sim-unix-2"
        assert board.path("flash/key").read_text().strip() == seed


def test_bad_ota_options_are_one_line(live_hub: LiveHub, tmp_path: Path) -> None:
    grid = live_hub.demo.grids[1]
    out = str(tmp_path / "devices")
    new = ["new", "--id", f"hh-{grid}", "--kind", "handheld", "--grid", grid, "--out", out]
    for args, message in (
        (["--ops-pub", "abc"], "--ops-pub 'abc': want the ops public key, 64 hex digits"),
        (["--hw", "a b"], "hw 'a b': want a hardware name"),
    ):
        code, stdout, stderr = provision(live_hub, *new, *args)
        assert code == 1 and stderr.strip().count("\n") == 0, stdout + stderr
        assert message in stderr
    code, stdout, stderr = provision(live_hub, *new)
    assert code == 0, stdout + stderr
    # a source tree without firmware/loader.py (an older checkout) cannot take the OTA layout
    src = tmp_path / "old-tree"
    for part in ("firmware", "protocol"):
        shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "firmware" / "loader.py").unlink()
    code, stdout, stderr = provision(
        live_hub, "flash", "--port", "/dev/ttyNOPE", "--out", out, "--layout", "ota",
        "--src", str(src), f"hh-{grid}",
    )  # fmt: skip
    assert code == 1 and stderr.strip().count("\n") == 0, stdout + stderr
    assert "--layout ota needs the loader" in stderr and "--layout flat" in stderr
    code, stdout, stderr = provision(
        live_hub, "flash", "--port", "/dev/ttyNOPE", "--out", out, "--layout", "zip", f"hh-{grid}"
    )
    assert code == 1 and "--layout 'zip': ota or flat" in stderr
