"""Heap use of the handheld firmware on the MicroPython unix port (real broker, real files).

    .venv/bin/python bench/firmware_heap.py [--quick]

For each scenario: the live-heap high-water (gc.mem_alloc() after each collection, once per
supervision cycle and after each upload), the heap left at exit and the run time (the 2 MB
upload time is printed by tests/hil: pytest -s -k 2mb); then the smallest -X heapsize (8K
steps down from 192K) that still completes the 2 MB photo + 20 s audio report. Exits 1 if
any run fails or its high-water is not under the heap size.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import Fleet, scenarios  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

MB = 1024 * 1024
GRID = "33010200100101"


def run_one(fleet: Fleet, name: str, scenario: list[dict], heapsize: str) -> dict:
    dev = fleet.add_handheld(f"hh-{name}-{heapsize}", GRID, scenario=scenario, heapsize=heapsize)
    t0 = time.monotonic()
    dev.start()
    try:
        rc = dev.wait(120)
    except TimeoutError:
        dev.kill()
        rc = -1
    took = time.monotonic() - t0
    m = re.findall(r"heap peak=(\d+) hwm=(-?\d+) free=(\d+) total=(\d+)", dev.log())
    row = {"scenario": name, "heapsize": heapsize, "rc": rc, "s": took}
    if m:
        peak, hwm, free, total = map(int, m[-1])
        row.update(hwm=hwm, free=free, total=total)
    return row


def measure(quick: bool = False, floor_kb: int = 136) -> tuple[list[dict], int | None]:
    rows = []
    smallest = None
    with Mosquitto() as broker:
        fleet = Fleet(broker.host, broker.port, accounts=broker.device_account)
        try:
            big = scenarios.big_report(2 * MB, 20)
            rows.append(run_one(fleet, "report-2MB-photo-20s-audio", big, "192K"))
            patrol = scenarios.patrol(reports=4, every_s=1.5, photo_bytes=60_000, audio_s=2)
            rows.append(run_one(fleet, "patrol-4-reports", patrol, "192K"))
            for kb in [] if quick else range(184, floor_kb - 1, -8):
                if run_one(fleet, "min-heap-2MB", big, f"{kb}K")["rc"] != 0:
                    break
                smallest = kb
        finally:
            fleet.cleanup()
    return rows, smallest


def ok(rows: list[dict]) -> bool:
    return all(r["rc"] == 0 and 0 < r.get("hwm", -1) < r.get("total", 0) for r in rows)


def table(rows: list[dict], smallest: int | None):
    from rich.table import Table

    t = Table(title="firmware heap (micropython unix port; live high-water after collections)")
    for col in ("scenario", "-X heapsize", "rc", "live hwm B", "heap B", "free@exit B", "run s"):
        t.add_column(col, justify="left" if col == "scenario" else "right")
    for r in rows:
        t.add_row(
            r["scenario"],
            r["heapsize"],
            str(r["rc"]),
            str(r.get("hwm", -1)),
            str(r.get("total", 0)),
            str(r.get("free", -1)),
            f"{r['s']:.1f}",
        )
    t.caption = (
        f"smallest -X heapsize completing the 2 MB + 20 s report: {smallest}K"
        if smallest
        else "smallest heap: none below 192K"
    )
    return t


def result_rows(rows: list[dict], smallest: int | None, floor_kb: int) -> list:
    from bench.results import Row

    out = []
    for r in rows:
        good = r["rc"] == 0 and 0 < r.get("hwm", -1) < r.get("total", 0)
        out.append(
            Row(
                "firmware_heap",
                f"{r['scenario']} live high-water (-X heapsize={r['heapsize']})",
                r.get("hwm"),
                "B",
                target=f"< heap ({r.get('total', 0):,} B), rc 0",
                passed=good,
                ratio=round(r["hwm"] / r["total"], 2) if r.get("hwm") and r.get("total") else None,
                baseline="heap",
                details={k: r.get(k) for k in ("rc", "free", "total", "s")},
            )
        )
    out.append(
        Row(
            "firmware_heap",
            "smallest -X heapsize completing the 2 MB photo + 20 s audio report",
            smallest,
            "KiB",
            details={"searched": f"184K down to {floor_kb}K in 8K steps",
                     "note": "none below 192K completed" if smallest is None else ""},
        )
    )  # fmt: skip
    return out


def run():
    """For `python -m bench`: the table and rows (min-heap search down to 168K)."""
    from bench.results import Report

    rows, smallest = measure(floor_kb=168)
    return Report(table(rows, smallest), result_rows(rows, smallest, 168))


def main() -> int:
    from rich.console import Console

    rows, smallest = measure("--quick" in sys.argv)
    Console(width=120).print(table(rows, smallest))
    return 0 if ok(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
