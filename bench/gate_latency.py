"""Local decision latency of the gate apps on the MicroPython unix port, with the real firmware
(main.py at Fleet.add_gate's default heap, the limit docs/firmware.md states) against a real
Mosquitto, batches signed and uploaded while the gate decides.

    .venv/bin/python bench/gate_latency.py [--events 300] [--seconds 90]

Per gate kind over a morning rush: p50 / p99 of `lat` (credential read -> relay command,
time.ticks_us, the gate's own figures) and of `lag` (how late the simulated reader delivered
each read because the event loop was busy: what a person waits before `lat` starts; on a
board the read is an interrupt and this is near zero unless a long step holds the loop).
One more face run gets a 1,000-entry list_sync delta (48 signed parts of ~6 KB, each
sent after the previous ack, as the hub does) in the middle of the rush: its ratio to the
plain face run of the same invocation shows what a sync costs the gate. Writes the rows as JSON to
$GRIDLINK_BENCH_OUT (default <tmp>/gridlink-bench)/gate_latency.json.

Target: lat p99 under 50 ms (lag is reported beside it: on the unix port it is mostly the
machine's load). Exits 1 if a run fails or misses the target.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gate_lists import out_dir  # noqa: E402
from protocol import envelope, topics  # noqa: E402
from simulator import Fleet, scenarios  # noqa: E402
from simulator.fleet import GATE_HEAPSIZE  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402
from tests.support.wire import MqttObserver  # noqa: E402

GRID = "33010200100101"
TARGET_MS = 50.0
DELTA = 1000
_LAT = re.compile(r"gate lat n=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+)")
_LAG = re.compile(r"site lag n=(\d+) p50_ms=(\d+) p99_ms=(\d+) max_ms=(\d+)")
_HEAP = re.compile(r"heap peak=(-?\d+) hwm=(-?\d+) free=(\d+) total=(\d+)")


def delta_parts(base: int, n: int = DELTA, parts: int = 48) -> list[dict]:
    """A delta of n new residents (card, PIN) from `base`, in `parts` list_sync parts."""
    per = (n + parts - 1) // parts
    entries = [
        {"op": "put", "t": "person", "id": f"p-d{i:05d}", "kind": "resident", "from": 0,
         "to": None, "doors": ["*"], "sched": None, "black": False, "cards": [f"0D{i:06X}"],
         "qr": [], "pins": [scenarios.pin_digest(f"7{i:05d}")], "duress": [], "face": None}
        for i in range(n)
    ]  # fmt: skip
    return [
        {"mode": "delta", "base": base, "version": base + 1, "part": k + 1, "parts": parts,
         "entries": entries[k * per:(k + 1) * per]}
        for k in range(parts)
    ]  # fmt: skip


def _sync(fleet: Fleet, dev, obs: MqttObserver, base: int, timeout: float) -> dict:
    # wait for the rush to be under way, then send the parts one ack at a time
    deadline = time.monotonic() + timeout
    while "gate reads=" not in dev.log():
        if time.monotonic() > deadline or not dev.running:
            return {"sync": "rush never started"}
        time.sleep(0.2)
    t0 = time.monotonic()
    details = []
    for args in delta_parts(base):
        since = obs.mark()
        obs.publish(topics.cmd(dev.device_id), fleet.command(dev.device_id, "list_sync", args))
        while True:
            got = obs.matching(topics.ack(dev.device_id), since)
            if got:
                body = envelope.parse(got[0].payload)["body"]
                details.append(f"{body['status']} {body['detail']}")
                break
            if time.monotonic() > deadline:
                return {"sync": "no ack", "acks": details}
            time.sleep(0.05)
    return {"sync_s": time.monotonic() - t0, "acks": details}


def run_kind(fleet: Fleet, comm: dict, kind: str, events: int, seconds: float,
             obs: MqttObserver | None = None, label: str | None = None,
             heapsize: str = GATE_HEAPSIZE) -> dict:  # fmt: skip
    rush, _ = scenarios.morning_rush(comm, kind, events=events, duration_s=seconds)
    label = label or kind
    dev = fleet.add_gate(
        f"gt-{label}-bench", kind, GRID, scenario=rush, people=comm["people"],
        templates=comm["templates"], lists=comm["entries"], heartbeat_s=0, heapsize=heapsize,
    )  # fmt: skip
    t0 = time.monotonic()
    dev.start()
    row: dict = {"run": label, "kind": kind, "events": events, "heap": dev.heapsize}
    if obs is not None:
        row.update(_sync(fleet, dev, obs, 1, seconds + 300))
    try:
        rc = dev.wait(seconds + 600)
    except TimeoutError:
        dev.kill()
        rc = -1
    row.update(rc=rc, s=time.monotonic() - t0)
    log = dev.log()
    m = _LAT.findall(log)
    if m:
        n, p50, p99, mx = map(int, m[-1])
        row.update(n=n, p50_ms=p50 / 1000, p99_ms=p99 / 1000, max_ms=mx / 1000)
    m = _LAG.findall(log)
    if m:
        _, p50, p99, mx = map(int, m[-1])
        row.update(lag_p50_ms=p50, lag_p99_ms=p99, lag_max_ms=mx)
    h = _HEAP.findall(log)
    if h:
        row.update(hwm=int(h[-1][1]), heap_b=int(h[-1][3]))
    return row


def measure(events: int = 300, seconds: float = 90) -> list[dict]:
    comm = scenarios.community(seed=1)
    rows = []
    with Mosquitto() as broker:
        fleet = Fleet(broker.host, broker.port, accounts=broker.device_account)
        try:
            for kind in ("face", "access", "barrier"):
                rows.append(run_kind(fleet, comm, kind, events, seconds))
            with MqttObserver(broker, ["gl/v1/+/ack"]) as obs:
                rows.append(run_kind(fleet, comm, "face", events, seconds, obs, "face-sync"))
        finally:
            fleet.cleanup()
    base = rows[0]
    for r in rows:  # ratios to the plain face run of this invocation
        for k in ("p50_ms", "p99_ms", "lag_p99_ms"):
            if r.get(k) is not None and base.get(k):
                r[f"{k}_vs_face"] = round(r[k] / base[k], 2)
    _write(rows)
    return rows


def _write(rows: list[dict]) -> Path:
    path = out_dir() / "gate_latency.json"
    path.write_text(json.dumps({"target_ms": TARGET_MS, "rows": rows}, indent=1))
    return path


def ok(rows: list[dict]) -> bool:
    return all(
        r["rc"] == 0 and r.get("p99_ms", 1e9) + r.get("lag_p99_ms", 1e9) < TARGET_MS for r in rows
    )


def table(rows: list[dict]):
    from rich.table import Table

    t = Table(title=f"gate decision latency (micropython unix port, -X heapsize={GATE_HEAPSIZE})")
    cols = ("run", "reads", "rc", "lat p50", "lat p99", "lag p50", "lag p99", "p99 / face",
            "live hwm B", "run s")  # fmt: skip
    for col in cols:
        t.add_column(col, justify="left" if col == "run" else "right")
    for r in rows:
        t.add_row(
            r["run"], str(r["events"]), str(r["rc"]),
            f"{r.get('p50_ms', -1):.2f}", f"{r.get('p99_ms', -1):.2f}",
            str(r.get("lag_p50_ms", -1)), str(r.get("lag_p99_ms", -1)),
            str(r.get("lag_p99_ms_vs_face", "-")), str(r.get("hwm", -1)), f"{r['s']:.1f}",
        )  # fmt: skip
    sync = next((r for r in rows if "sync_s" in r or "sync" in r), None)
    note = ""
    if sync is not None:
        note = (f"; face-sync: {DELTA}-entry delta in {sync.get('sync_s', -1):.1f} s, "
                f"last ack {(sync.get('acks') or ['none'])[-1]}")  # fmt: skip
    t.caption = (
        f"ms; lat: read -> relay, lag: read delivered late; target p99 < {TARGET_MS:.0f}{note}"
    )
    return t


def result_rows(rows: list[dict]) -> list:
    from bench.results import Row

    def total(r: dict) -> float | None:
        p99, lag = r.get("p99_ms"), r.get("lag_p99_ms")
        return None if p99 is None or lag is None else round(p99 + lag, 2)

    face = total(rows[0]) if rows else None  # the plain face run of this invocation
    out = []
    for r in rows:
        value = total(r)
        ratio = round(value / face, 2) if value is not None and face else None
        row = Row.below("gate_latency", f"{r['run']}: lat p99 + lag p99", value, TARGET_MS, "ms",
                        ratio=ratio, baseline="face run",
                        details={k: v for k, v in r.items() if k not in ("acks",)})  # fmt: skip
        row.passed = bool(row.passed) and r["rc"] == 0
        out.append(row)
        if "sync_s" in r:
            out.append(Row("gate_latency", f"{r['run']}: {DELTA}-entry delta sync during the rush",
                           round(r["sync_s"], 1), "s",
                           details={"last_ack": (r.get("acks") or ["none"])[-1]}))  # fmt: skip
        elif "sync" in r:
            out.append(Row("gate_latency", f"{r['run']}: {DELTA}-entry delta sync during the rush",
                           None, "s", details={"error": r["sync"]}))  # fmt: skip
    return out


def run():
    """For `python -m bench`: the table and rows."""
    from bench.results import Report

    rows = measure()
    return Report(table(rows), result_rows(rows))


def main() -> int:
    from rich.console import Console

    events = int(sys.argv[sys.argv.index("--events") + 1]) if "--events" in sys.argv else 300
    secs = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 90
    rows = measure(events, secs)
    Console(width=140).print(table(rows))
    return 0 if ok(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
