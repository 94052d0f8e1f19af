"""The shared vectors must give the expected result on CPython and on MicroPython."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

from tests.protocol import vectors_runner

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "protocol" / "vectors"


def _expected_names() -> set[str]:
    names = set()
    for fname in ("rfc8032.json", "positive.json", "negative.json", "pbkdf2.json"):
        for v in json.loads((VECTORS / fname).read_text("utf-8"))["vectors"]:
            names.add(f"{fname}:{v['name']}")
    return names


def _results(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        if line.startswith("RESULT"):
            continue
        name, _, verdict = (
            line.rpartition(" ok") if line.endswith(" ok") else line.partition(" FAIL ")
        )
        out[name] = "ok" if line.endswith(" ok") else verdict
    return out


def test_vector_files_have_the_required_coverage():
    counts = {
        f: len(json.loads((VECTORS / f).read_text("utf-8"))["vectors"])
        for f in ("rfc8032.json", "positive.json", "negative.json", "pbkdf2.json")
    }
    assert counts["rfc8032.json"] >= 4
    assert counts["positive.json"] >= 10
    assert counts["negative.json"] >= 8
    assert counts["pbkdf2.json"] >= 6


def test_vectors_pass_on_cpython():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        failed = vectors_runner.main(str(ROOT))
    results = _results(buf.getvalue())
    assert set(results) == _expected_names()
    assert {k: v for k, v in results.items() if v != "ok"} == {}
    assert failed == 0


def test_vectors_pass_on_micropython(run_micropython):
    proc = run_micropython(ROOT / "tests/protocol/vectors_runner.py", str(ROOT))
    results = _results(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(results) == _expected_names()
    assert {k: v for k, v in results.items() if v != "ok"} == {}


def test_interpreters_agree_line_for_line(run_micropython):
    mp = run_micropython(ROOT / "tests/protocol/vectors_runner.py", str(ROOT))
    cp = subprocess.run(
        [sys.executable, str(ROOT / "tests/protocol/vectors_runner.py"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert mp.stdout == cp.stdout
