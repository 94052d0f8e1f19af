"""The gate's lists on flash (firmware/lib/acl.py, decide.py) on the MicroPython unix port.

    .venv/bin/python bench/gate_lists.py [--heap 192K]

3,000 persons (card, QR, PIN, face each) and 1,000 vehicles as a full snapshot in 16 KiB
parts, then a 1,000-entry delta in 8 parts; lookups by every credential kind and the full
decision (Decider.check) timed one by one (p50 / p99 / max, microseconds); the sync times per
part; the bucket sizes and the bytes on flash; the heap left. Writes the figures as JSON to
$GRIDLINK_BENCH_OUT (default <tmp>/gridlink-bench)/gate_lists.json, with each timing's p99 as
a ratio to the unknown-card lookup of the same run (one bucket read, no entry: the floor).
Exits 1 if a run fails or a lookup's p99 is over 5 ms.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.firmware.test_acl import GEN  # noqa: E402
from tests.support.micropython import run_micropython  # noqa: E402

SCRIPT = (
    GEN
    + """
import decide

class Clock:
    def time(self):
        return 1796090400

def pct(xs):
    xs.sort()
    return [xs[len(xs) // 2], xs[len(xs) * 99 // 100], xs[-1]]

def timed(f, n):
    lat = []
    for i in range(n):
        t = time.ticks_us()
        e = f(i)
        lat.append(time.ticks_diff(time.ticks_us(), t))
        assert e, i
    return pct(lat)

ls = acl.Lists(root)
gc.collect()
t = time.ticks_ms()
acks = full(ls, 3000, 1000, 1)
r = {"full_ms": time.ticks_diff(time.ticks_ms(), t), "full_parts": len(acks)}
gc.collect()
r["free_after_full"] = gc.mem_free()
N = 500
r["card"] = timed(lambda i: ls.find("card", "C%06X" % (i * 6)), N)
r["qr"] = timed(lambda i: ls.find("qr", "q-%d" % (i * 6 + 1)), N)
pins = [pin("%06d" % (i * 6 + 2)) for i in range(100)]
r["pin"] = timed(lambda i: ls.find("pin", pins[i]), 100)
r["face"] = timed(lambda i: ls.find("face", "t-%d" % (i * 6 + 3)), N)
r["plate"] = timed(lambda i: ls.find("plate", "浙A%05d" % (i * 2)), N)
r["miss"] = timed(lambda i: ls.find("card", "X%d" % i) is None, N)
dec = decide.Decider(ls, [{"id": "d1", "dir": "in"}, {"id": "p1", "dir": "in",
                                                       "passback": True}], Clock(), root + "-pb")
r["decide_card"] = timed(lambda i: dec.check("d1", "card", "C%06X" % (i * 5))[0] == "granted", N)
r["decide_passback"] = timed(
    lambda i: dec.check("p1", "face", "t-%d" % (i * 5 + 1), 95)[0] == "granted", N)
parts = []
for k in range(8):
    gc.collect()
    t = time.ticks_ms()
    dpart(ls, k)
    parts.append(time.ticks_diff(time.ticks_ms(), t))
r["delta_ms"] = parts
r["version"] = ls.version
r["removed_faces"] = len(ls.removed_faces)
gc.collect()
r["free_end"] = gc.mem_free()
sizes = []
total = 0
for d in os.listdir(root):
    if d[0] == "g":
        for n in os.listdir(root + "/" + d):
            s = os.stat(root + "/" + d + "/" + n)[6]
            total += s
            if len(n) == 2:
                sizes.append(s)
sizes.sort()
r["buckets"] = [len(sizes), sizes[len(sizes) // 2], sizes[-1]]
r["flash_bytes"] = total
print(json.dumps(r))
"""
)


def measure(heap: str = "192K") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = run_micropython(SCRIPT, heapsize=heap, args=[f"{tmp}/acl"], timeout=600)
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr)[-2000:], "heap": heap}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["heap"] = heap
    floor = r["miss"][1] or 1
    r["p99_vs_miss"] = {k: round(r[k][1] / floor, 2) for k in KINDS}
    (out_dir() / "gate_lists.json").write_text(json.dumps(r, indent=1))
    return r


def out_dir() -> Path:
    """Where the gate benches write their JSON: $GRIDLINK_BENCH_OUT or <tmp>/gridlink-bench."""
    env = os.environ.get("GRIDLINK_BENCH_OUT")
    out = Path(env) if env else Path(tempfile.gettempdir()) / "gridlink-bench"
    out.mkdir(parents=True, exist_ok=True)
    return out


KINDS = ("card", "qr", "pin", "face", "plate", "miss", "decide_card", "decide_passback")


def ok(r: dict) -> bool:
    return "error" not in r and all(r[k][1] < 5000 for k in KINDS)


def table(r: dict):
    from rich.table import Table

    t = Table(title=f"gate lists on flash (micropython unix port, -X heapsize={r['heap']})")
    t.add_column("measure")
    for col in ("p50 µs", "p99 µs", "max µs", "p99 / miss"):
        t.add_column(col, justify="right")
    if "error" in r:
        t.caption = "run failed: " + r["error"]
        return t
    names = {
        "card": "find card (3,000 persons + 1,000 vehicles)",
        "qr": "find QR",
        "pin": "find PIN (sha256 hex)",
        "face": "find face template",
        "plate": "find plate (UTF-8)",
        "miss": "find unknown card",
        "decide_card": "Decider.check card",
        "decide_passback": "Decider.check face, anti-passback door",
    }
    for k, label in names.items():
        t.add_row(label, *(str(x) for x in r[k]), str(r["p99_vs_miss"][k]))
    d = r["delta_ms"]
    t.caption = (
        f"full snapshot: {r['full_parts']} parts in {r['full_ms']} ms; 1,000-entry delta: "
        f"{sum(d)} ms in 8 parts (max {max(d)} ms a part); {r['buckets'][0]} buckets, median "
        f"{r['buckets'][1]} B, largest {r['buckets'][2]} B; {r['flash_bytes']} B on flash; "
        f"heap free after full {r['free_after_full']} B, at end {r['free_end']} B"
    )
    return t


def result_rows(r: dict) -> list:
    from bench.results import Row

    s = "gate_lists"
    if "error" in r:
        return [Row(s, "lookups", None, "µs", target="p99 < 5,000 µs", passed=False,
                    details={"error": r["error"][-300:], "heap": r["heap"]})]  # fmt: skip
    out = [
        Row.below(s, f"{k} p99", r[k][1], 5000, "µs", ratio=r["p99_vs_miss"][k],
                  baseline="unknown-card lookup", headline=k.startswith("decide"),
                  details={"p50_us": r[k][0], "max_us": r[k][2], "heap": r["heap"]})
        for k in KINDS
    ]  # fmt: skip
    worst = max(KINDS, key=lambda k: r[k][1])
    out.insert(0, Row.below(s, "slowest lookup p99", r[worst][1], 5000, "µs",
                            details={"kind": worst}))  # fmt: skip
    d = r["delta_ms"]
    out += [
        Row(s, "full snapshot sync (3,000 persons, 1,000 vehicles)", r["full_ms"], "ms",
            details={"parts": r["full_parts"]}),
        Row(s, "1,000-entry delta sync (8 parts)", sum(d), "ms", details={"part_ms": d}),
        Row(s, "bytes on flash", r["flash_bytes"], "B", headline=False,
            details={"buckets": r["buckets"]}),
        Row(s, "heap free at end", r["free_end"], "B", headline=False,
            details={"after_full": r["free_after_full"], "heap": r["heap"]}),
    ]  # fmt: skip
    return out


def run():
    """For `python -m bench`: the table and rows."""
    from bench.results import Report

    r = measure()
    return Report(table(r), result_rows(r))


def main() -> int:
    from rich.console import Console

    heap = sys.argv[sys.argv.index("--heap") + 1] if "--heap" in sys.argv else "192K"
    r = measure(heap)
    Console(width=140).print(table(r))
    return 0 if ok(r) else 1


if __name__ == "__main__":
    sys.exit(main())
