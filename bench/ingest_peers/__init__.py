"""Ingest side by side (issue 13): Gridlink as users run it (``gridlink hub run``) and the peers a
user would build instead (``peers.py``), each fed the same signed stream through the same
locked-down Mosquitto (``stream.py``, ``measure.py``), from an empty SQLite database.

``python -m bench ingest_peers`` (part of ``make bench``) measures, in one run:

* the verify ceiling: Ed25519 checks of the stream's envelopes in a plain loop (``cryptography``),
  what every ratio is taken against;
* Gridlink flooded (the publisher as fast as it can) with 10, 100, 1,000 and 10,000 devices in the
  stream: events/s stored, and its ratio to the ceiling (target >= 50 %), the 10,000-device row
  against the 10-device one (target: within 20 %);
* Gridlink paced at 1,000 events/s (target p50 < 10 ms) and at 80 % of the target rate (half
  the ceiling; target p99 < 50 ms), latency publish -> committed as the watcher sees it;
* each peer flooded with the 1,000-device stream and paced at 1,000 events/s; Gridlink's ratio
  to each (targets: >= 3x naive, ahead of tuned and Node-RED);
* for every run: lost, forged stored and duplicates (must all be 0), and the CPU each process
  used per event stored (the system, the broker, the publisher: all on the same 2 cores).

``GRIDLINK_BENCH_EVENTS`` (default 10,000) sets the stream length.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.table import Table

from bench.results import Report, Row
from hub.ingest.runner import use_openssl
from protocol import envelope

from .measure import measure, systems
from .stream import Outcome, make_stream

SUITE = "ingest"
DEVICE_ROWS = (10, 100, 1_000, 10_000)
PEER_DEVICES = 1_000
PACED_RATE = 1_000.0


def verify_ceiling(events: int) -> float:
    """Signature checks per second of a stream's envelopes, parsed beforehand."""
    use_openssl()
    stream = make_stream(10, events)
    parsed = [envelope.parse(m.payload) for m in stream.messages]
    start = time.perf_counter()
    for env in parsed:
        try:
            envelope.verify(env, stream.keys[env["dev"]])
        except ValueError:
            pass  # a forgery: checked all the same
    return len(parsed) / (time.perf_counter() - start)


def _check(out: Outcome) -> None:
    """The benchmark itself is broken when a system loses, forges or doubles an event."""
    if out.lost or out.forged or out.duplicates:
        raise RuntimeError(
            f"{out.system} with {out.devices} devices: {out.lost} lost, {out.forged} forged "
            f"stored, {out.duplicates} duplicates"
        )


def run() -> Report:
    events = int(os.environ.get("GRIDLINK_BENCH_EVENTS", "10000"))
    factories = systems()
    ceiling = verify_ceiling(events)
    runs: list[tuple[str, Outcome]] = []

    def one(key: str, devices: int, rate: float | None) -> Outcome:
        out = measure(factories[key], make_stream(devices, events), rate)
        _check(out)
        runs.append((key, out))
        return out

    flood = {n: one("gridlink", n, None) for n in DEVICE_ROWS}
    target_rate = ceiling / 2
    paced = {rate: one("gridlink", 50, rate) for rate in (PACED_RATE, 0.8 * target_rate)}
    peers = [k for k in factories if k != "gridlink"]
    peer_flood = {k: one(k, PEER_DEVICES, None) for k in peers}
    peer_paced = {k: one(k, 50, PACED_RATE) for k in peers}

    rows: list[Row] = [Row(SUITE, "verify ceiling (cryptography Ed25519)", round(ceiling), "/s")]
    for n, out in flood.items():
        ratio = out.rate / ceiling
        rows.append(
            Row(
                SUITE,
                f"Gridlink, {n:,} devices",
                round(out.rate),
                "/s",
                target=">= 50 % of the verify ceiling",
                passed=ratio >= 0.5,
                ratio=round(ratio, 3),
                baseline="verify ceiling",
                details=out.as_json(),
            )
        )
    flat = flood[DEVICE_ROWS[-1]].rate / flood[DEVICE_ROWS[0]].rate
    rows.append(
        Row(
            SUITE,
            "Gridlink 10,000 devices / 10 devices",
            round(flat, 3),
            "",
            target=">= 0.8",
            passed=flat >= 0.8,
        )
    )
    slow, fast = paced[PACED_RATE], paced[0.8 * target_rate]
    rows.append(
        Row.below(
            SUITE, "Gridlink p50 at 1,000 events/s", round(slow.pct(50), 2), 10, "ms",
            details=slow.as_json(),
        )
    )  # fmt: skip
    rows.append(
        Row.below(
            SUITE,
            f"Gridlink p99 at {fast.offered:,.0f} events/s (80 % of half the ceiling)",
            round(fast.pct(99), 2),
            50,
            "ms",
            details=fast.as_json(),
        )
    )
    gl = flood[PEER_DEVICES].rate
    for key in peers:
        out = peer_flood[key]
        ratio = gl / out.rate if out.rate else float("inf")
        need = 3.0 if key == "naive" else 1.0  # >= 3x the naive one, ahead of the others
        rows.append(
            Row(
                SUITE,
                f"Gridlink / {key} ({PEER_DEVICES:,} devices)",
                round(ratio, 2),
                "x",
                target=">= 3x" if key == "naive" else "> 1x",
                passed=ratio >= need if key == "naive" else ratio > need,
                baseline=f"{key}: {out.rate:,.0f} /s",
                details={"peer": out.as_json(), "paced": peer_paced[key].as_json()},
            )
        )
    return Report(_table(ceiling, runs), rows)


def _table(ceiling: float, runs: list[tuple[str, Outcome]]) -> Table:
    table = Table(
        title=f"Ingest side by side (one stream through one Mosquitto; verify ceiling "
        f"{ceiling:,.0f}/s)"
    )
    for col in ("system", "devices", "offered /s", "stored /s", "/ceiling", "p50 ms",
                "p99 ms", "lost", "forged", "dup", "CPU us/event sys+broker+pub"):  # fmt: skip
        table.add_column(col, justify="left" if col == "system" else "right")
    for _key, out in runs:
        cpu: dict[str, Any] = out.as_json()["cpu_us_per_event"]  # type: ignore[assignment]
        table.add_row(
            out.system,
            f"{out.devices:,}",
            "flood" if out.offered is None else f"{out.offered:,.0f}",
            f"{out.rate:,.0f}",
            f"{out.rate / ceiling:.0%}",
            f"{out.pct(50):,.1f}",
            f"{out.pct(99):,.1f}",
            str(out.lost),
            str(out.forged),
            str(out.duplicates),
            "+".join(f"{cpu.get(k, 0):.0f}" for k in ("system", "broker", "publisher")),
        )
    return table
