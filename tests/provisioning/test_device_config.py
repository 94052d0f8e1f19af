"""provisioning/device_config.py writes configs the firmware accepts: its table of each app's
peripherals is a copy of the firmware's own (firmware/hal/drivers.py APP_PARTS, which runs on
MicroPython and cannot be imported here), so this test fails the day they drift apart."""

from __future__ import annotations

import json

from provisioning import device_config
from tests.support.micropython import run_micropython


def test_the_app_parts_are_the_firmwares() -> None:
    out = run_micropython(
        "import json\nimport hal.drivers as d\nprint(json.dumps(d.APP_PARTS))", check=True
    )
    firmware = {app: list(parts) for app, parts in json.loads(out.stdout).items()}
    assert {app: list(parts) for app, parts in device_config.APP_PARTS.items()} == firmware
