"""The simulator installs exactly the files a bundle carries and provisioning flashes (one
list: provisioning.mpy), and that list is the firmware compiled to bytecode."""

from __future__ import annotations

from pathlib import Path

from provisioning.bundle import firmware_files as bundle_files
from simulator.fleet import firmware_files as sim_files

REPO = Path(__file__).resolve().parents[2]


def test_the_simulator_installs_what_a_bundle_carries() -> None:
    sim = [(Path(src).resolve(), rel) for src, rel in sim_files(REPO)]
    ops = [(Path(src).resolve(), rel) for src, rel in bundle_files(REPO)]
    assert sim == ops
    rels = {rel for _, rel in ops}
    assert {"main.py", "lib/device.mpy", "lib/ota.mpy", "protocol/bundle.mpy"} <= rels
    assert "loader.py" not in rels and "loader.mpy" not in rels
    assert [r for r in rels if r.endswith(".py")] == ["main.py"]  # the rest is bytecode
    assert all(src.read_bytes()[:2] == b"M\x06" for src, rel in ops if rel.endswith(".mpy"))
