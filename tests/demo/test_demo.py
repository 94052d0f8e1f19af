"""`make demo` end to end for a short while: embedded broker, hub, two MicroPython handhelds.

The closed loop must turn at least once: a patrol report becomes a case, the demo's units
handle it, the handheld confirms on site, the case is closed and rated (evaluated).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
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


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_second_demo_refuses_to_start_over_a_running_one(tmp_path: Path) -> None:
    """Before: the second demo wiped the running demo's data directory and started anyway."""
    data_dir = tmp_path / "demo"
    args = [sys.executable, "-m", "gridlink.demo", "--devices", "1", "--data-dir", str(data_dir)]
    port = free_port()
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(
            [*args, "--duration", "90", "--api-port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120  # migrate, seed (areas and the compound), hub up
        while not _answers(f"http://127.0.0.1:{port}/healthz"):  # the first demo is up
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.3)
        time.sleep(2)  # into its main loop (Ctrl-C there ends it with 0)
        tokens = (data_dir / "tokens.json").read_text()
        second = subprocess.run(
            [*args, "--duration", "5", "--api-port", str(free_port())],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "already running" in lines[0], second.stderr
        assert f"pid {first.pid}" in lines[0]
        assert first.poll() is None  # the running demo and its data are untouched
        assert (data_dir / "tokens.json").read_text() == tokens
        assert (data_dir / "hub" / "hub.db").is_file()
    finally:
        first.send_signal(signal.SIGINT)
        try:
            first.wait(30)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
    assert first.returncode == 0, (tmp_path / "first.log").read_text()
