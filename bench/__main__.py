"""`python -m bench [NAME...]`: run the benchmark modules (all of them, or the ones named, e.g.
``python -m bench media protocol_speed``), print each module's table, then one summary table,
and write the figures with the machine, the commit and the date as JSON under
``bench/results/`` (bench/results.py says what is in it and what a module's ``run()`` returns).

Exit status: 0; 1 when a module failed (the others still ran); 2 when every module ran but a
figure missed its target.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from rich.console import Console

from bench import results

MODULES = [
    "bench.protocol_speed",
    "bench.mp_crypto",
    "bench.firmware_heap",
    "bench.hub_ingest",
    "bench.ingest_peers",  # the lead's ingest comparison (a package; skipped until it has run())
    "bench.media",
    "bench.gate_lists",
    "bench.gate_latency",
    "bench.fleet_scale",
    "bench.hub_import",
    "bench.console_pages",
]


def select(names: list[str]) -> list[str]:
    """The modules named (``media`` or ``bench.media``), in the order given; SystemExit(2)
    naming the known ones for a name that is not in MODULES."""
    known = {results.short(m): m for m in MODULES}
    chosen = []
    for n in names:
        module = known.get(results.short(n))
        if module is None:
            raise SystemExit(f"unknown benchmark {n!r}; known: {', '.join(known)}")
        chosen.append(module)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="modules to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the module names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(results.short(m) for m in MODULES))
        return 0
    chosen = select(args.names) if args.names else MODULES
    console = Console(width=140)
    started = datetime.now(UTC)
    machine, git = results.machine_info(), results.git_info()
    outcomes = []
    for name in chosen:
        console.rule(name)
        out = results.run_module(name)
        if out.status == "absent":
            console.print(f"[yellow]{name}: {out.note}[/]")
        elif out.status == "failed":
            console.print(f"[red]{name}: failed: {out.error}[/]")
        elif out.table is not None:
            console.print(out.table)
        outcomes.append(out)
    console.rule("summary")
    console.print(results.summary(outcomes))
    doc = results.document(
        outcomes, started=started, machine=machine, git=git,
        subset=chosen if args.names else None,
    )  # fmt: skip
    path, latest = results.write(doc)
    console.print(f"figures written to {path} (and {latest.name})")
    return int(doc["exit_status"])


if __name__ == "__main__":
    sys.exit(main())
