"""`make demo` end to end for a short while: embedded broker, hub, two MicroPython handhelds.

The closed loop must turn at least once: a patrol report becomes a case, the demo's units
handle it, the handheld confirms on site, the case is closed and rated (evaluated).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.hil]


def test_demo_turns_the_closed_loop(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridlink.demo",
            "--duration",
            "45",
            "--devices",
            "2",
            "--report-every",
            "3",
            "--api-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "/console" in out and "/docs" in out
    final = [line for line in out.splitlines() if line.startswith("final cases by status")]
    assert final, out
    assert "'evaluated'" in final[0], out
    # every process the demo started is gone
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
