"""The device's crypto on the MicroPython unix port: pure SHA-512, Ed25519 sign (with the
public key computed once, as firmware/lib/keyed.py does) and verify, and a gate batch's seal,
each as time, big-int garbage per call, and a ratio to a baseline measured in the same
micropython process (a fixed loop of 20,000 small-int steps: the interpreter's own speed), so
a loaded machine moves the ratio less than the time. The gc4k rows run under
firmware/main.py's gc.threshold(4096) with ~200 KB live (a gate in its rush): what a
signature costs where a collection follows every 4 KiB. The garbage column is the figure a
loaded machine does not move.

    .venv/bin/python -m bench.mp_crypto

Writes $GRIDLINK_BENCH_OUT (default <tmp>/gridlink-bench)/mp_crypto.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gate_lists import out_dir  # noqa: E402
from bench.results import Report, Row  # noqa: E402


def _mp(heap: str, n: int, mode: str) -> dict[str, int]:
    exe = str(Path(sys.executable).parent / "micropython")
    if not Path(exe).exists():
        exe = shutil.which("micropython") or "micropython"
    cmd = [exe, "-X", f"heapsize={heap}", str(ROOT / "bench/mp_crypto_run.py"), str(ROOT)]
    out = subprocess.run(
        [*cmd, str(n), mode], capture_output=True, text=True, check=True, timeout=600
    ).stdout.split()
    return dict(zip(out[::2], map(int, out[1::2]), strict=True))


def measure(n: int = 10) -> list[dict[str, object]]:
    """One row per op: us, x_baseline (us / the baseline's us in the same run and gc mode),
    alloc_bytes (garbage of one call; the gc4k rows make the same garbage)."""
    times = _mp("512K", n, "time")
    alloc = _mp("64M", 1, "alloc")
    rows: list[dict[str, object]] = []
    for op, us in times.items():
        plain = op.removeprefix("gc4k_")
        ref = times["gc4k_baseline_loop" if op.startswith("gc4k_") else "baseline_loop"]
        rows.append({"op": op, "us": us, "x_baseline": round(us / max(1, ref), 1),
                     "alloc_bytes": alloc.get(plain)})  # fmt: skip
    return rows


def table(rows: list[dict[str, object]], path: Path) -> Table:
    t = Table(title=f"MicroPython crypto (unix port, -X heapsize=512K) -> {path}")
    for col in ("op", "ms", "x baseline", "garbage KB"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["op"]),
            f"{int(str(r['us'])) / 1000:.2f}",
            str(r["x_baseline"]),
            f"{int(str(r['alloc_bytes'])) / 1024:.1f}",
        )
    return t


HEADLINE = ("sign", "verify", "seal_gate_batch", "gc4k_sign", "gc4k_verify")


def result_rows(rows: list[dict[str, object]]) -> list[Row]:
    return [
        Row(
            "mp_crypto",
            str(r["op"]),
            int(str(r["us"])) / 1000,
            "ms",
            ratio=float(str(r["x_baseline"])),
            baseline="baseline loop",
            headline=r["op"] in HEADLINE,
            details={"us": r["us"], "garbage_bytes": r["alloc_bytes"]},
        )
        for r in rows
        if r["op"] not in ("baseline_loop", "gc4k_baseline_loop")
    ] + [
        Row("mp_crypto", str(r["op"]), int(str(r["us"])) / 1000, "ms", headline=False,
            details={"what": "20,000 small-int loop steps (the ratios' baseline)"})
        for r in rows
        if r["op"] in ("baseline_loop", "gc4k_baseline_loop")
    ]  # fmt: skip


def run() -> Report:
    rows = measure()
    path = out_dir() / "mp_crypto.json"
    path.write_text(json.dumps({"baseline": "20,000 small-int loop steps", "rows": rows}, indent=1))
    return Report(table(rows, path), result_rows(rows))


if __name__ == "__main__":
    Console(width=120).print(run().table)
