"""Heap use of the handheld firmware on the MicroPython unix port (real broker, real files).

    .venv/bin/python bench/firmware_heap.py [--quick]

For each scenario: the live-heap high-water (gc.mem_alloc() after each collection, once per
supervision cycle and after each upload), the heap left at exit, the run time and the 2 MB
upload time; then the smallest -X heapsize (8K steps down from 192K) that still completes
the 2 MB photo + 20 s audio report. Exits 1 if any run fails or its high-water is not under
the heap size.
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


def main() -> int:
    quick = "--quick" in sys.argv
    rows = []
    with Mosquitto() as broker:
        fleet = Fleet(broker.host, broker.port)
        try:
            big = scenarios.big_report(2 * MB, 20)
            rows.append(run_one(fleet, "report-2MB-photo-20s-audio", big, "192K"))
            patrol = scenarios.patrol(reports=4, every_s=1.5, photo_bytes=60_000, audio_s=2)
            rows.append(run_one(fleet, "patrol-4-reports", patrol, "192K"))
            smallest = None
            for kb in [] if quick else range(184, 135, -8):
                r = run_one(fleet, "min-heap-2MB", big, f"{kb}K")
                if r["rc"] != 0:
                    break
                smallest = kb
        finally:
            fleet.cleanup()
    print()
    print(
        f"{'scenario':32} {'-X heapsize':>11} {'rc':>3} {'live hwm':>9} {'total':>8} "
        f"{'free@exit':>9} {'run s':>6}"
    )
    ok = True
    for r in rows:
        hwm = r.get("hwm", -1)
        total = r.get("total", 0)
        print(
            f"{r['scenario']:32} {r['heapsize']:>11} {r['rc']:>3} {hwm:>9} {total:>8} "
            f"{r.get('free', -1):>9} {r['s']:>6.1f}"
        )
        ok = ok and r["rc"] == 0 and 0 < hwm < total
    if not quick:
        print(
            f"smallest heap completing the 2 MB + 20 s report: {smallest}K"
            if smallest
            else "smallest heap: none below 192K"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
