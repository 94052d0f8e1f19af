"""hal.build (firmware/hal/__init__.py): the board config names every driver; anything else is a
DriverError at start-up naming the peripheral and the known drivers (on MicroPython)."""

from __future__ import annotations

import json

import pytest

SCRIPT = """
import json, sys
import hal
cfg = json.loads(sys.argv[1])
try:
    h = hal.build(cfg)
    print("OK", sorted(k for k in ("camera", "microphone", "gps", "battery", "ui")
                       if getattr(h, k) is not None))
except hal.DriverError as e:
    print("DriverError", isinstance(e, ValueError), e)
"""

ALL_SIM = {"camera": "sim", "microphone": "sim", "gps": "sim", "battery": "sim", "ui": "sim"}


def build(run_mpy, hal: dict) -> str:
    cfg = {"hal": hal, "sim": {}}
    return run_mpy(SCRIPT, json.dumps(cfg)).strip().splitlines()[-1]


def test_every_named_driver_is_built(run_mpy):
    out = build(run_mpy, {**ALL_SIM, "camera": "none", "ui": "none"})
    assert out == "OK ['battery', 'gps', 'microphone']"


@pytest.mark.parametrize(
    "hal, message",
    [
        (
            {k: v for k, v in ALL_SIM.items() if k != "gps"},
            "hal gps: no driver named (known: sim, none)",
        ),
        ({**ALL_SIM, "camera": "board"}, "hal camera: unknown driver 'board' (known: sim, none)"),
        ({**ALL_SIM, "ui": "lcd"}, "hal ui: unknown driver 'lcd' (known: sim, board, none)"),
        (
            {**ALL_SIM, "lock": "sim"},
            "hal lock: unknown peripheral (known: camera, microphone, gps, battery, ui)",
        ),
        ({}, "hal camera: no driver named (known: sim, none)"),
    ],
)
def test_a_missing_or_unknown_driver_is_a_start_up_error(run_mpy, hal, message):
    assert build(run_mpy, hal) == f"DriverError True {message}"


def test_main_refuses_a_config_without_drivers(run_mpy, tmp_path):
    cfg = {
        "device_id": "hh-hal",
        "grid": "33010200100101",
        "key": "11" * 32,
        "hub_key": "22" * 32,
        "flash": str(tmp_path / "flash"),
        "hal": {"camera": "sim"},
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    script = """
import sys, hal, main
try:
    main.main(["--config", sys.argv[1]])
except hal.DriverError as e:
    print("REFUSED", e)
"""
    out = run_mpy(script, path)
    assert "REFUSED hal microphone: no driver named (known: sim, none)" in out, out
