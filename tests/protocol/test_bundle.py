"""protocol/bundle.py: the same cases on CPython and on the MicroPython unix port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import bundle, crypto

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("bundle_cases.py")


def _cpython() -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(CASES)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    return out.stdout


def test_cases_agree_on_both_interpreters(run_micropython):
    expected = _cpython()
    mp = run_micropython(CASES, heapsize="256K")
    assert mp.returncode == 0, mp.stderr + mp.stdout
    assert mp.stdout == expected
    lines = dict(line.split(" ", 1) for line in expected.splitlines() if " " in line)
    assert lines["wrong"] == "key bad_signature"
    assert lines["altered"] == "byte bad_signature"
    assert lines["unsigned"] == "unsigned"
    assert lines["unsorted"] == "malformed"
    assert lines["same"] == "not_newer" and lines["newer"] == "ok"
    assert expected.rstrip().endswith("done")


def test_every_byte_of_a_sealed_manifest_is_covered():
    """Flip each byte of a sealed manifest: never accepted with the ops key."""
    seed = b"\x55" * 32
    files = [bundle.file_entry("main.py", "ab" * 32, 10)]
    data = bundle.seal(bundle.build("fw", "1.0.0", ["access"], ["*"], files), seed)
    pk = crypto.public_key(seed)
    assert bundle.open(data, pk)["version"] == "1.0.0"
    for i in range(len(data)):
        altered = bytearray(data)
        altered[i] ^= 0x01
        with pytest.raises(bundle.BundleError):
            bundle.open(bytes(altered), pk)


def test_a_manifest_over_the_limits_is_refused():
    files = [bundle.file_entry(f"f{i:03}.py", "ab" * 32, bundle.MAX_FILE_BYTES)
             for i in range(bundle.MAX_BUNDLE_BYTES // bundle.MAX_FILE_BYTES + 1)]  # fmt: skip
    with pytest.raises(bundle.OversizeError):
        bundle.build("fw", "1.0.0", ["access"], ["*"], files)
    with pytest.raises(bundle.BundleError) as e:
        bundle.parse(b"{" + b" " * bundle.MAX_MANIFEST_BYTES + b"}")
    assert e.value.reason == "too_large"
