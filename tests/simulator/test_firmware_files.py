"""The simulator installs exactly the files a bundle carries and provisioning flashes: one list
in two places (simulator/ must not import provisioning/), checked here."""

from __future__ import annotations

from pathlib import Path

from provisioning.bundle import firmware_files as bundle_files
from simulator.fleet import firmware_files as sim_files

REPO = Path(__file__).resolve().parents[2]


def test_the_simulator_installs_what_a_bundle_carries() -> None:
    sim = [(Path(src).resolve(), rel) for src, rel in sim_files(REPO)]
    ops = [(Path(src).resolve(), rel) for src, rel in bundle_files(REPO)]
    assert sorted(sim, key=lambda x: x[1]) == sorted(ops, key=lambda x: x[1])
    rels = {rel for _, rel in ops}
    assert {"main.py", "lib/device.py", "lib/ota.py", "protocol/bundle.py"} <= rels
    assert "loader.py" not in rels and not any(r.endswith(".pyi") for r in rels)
