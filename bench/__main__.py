"""`python -m bench`: run every benchmark module that exists and print its table."""

from __future__ import annotations

import importlib

from rich.console import Console

MODULES = [
    "bench.protocol_speed",
    "bench.mp_crypto",
    "bench.firmware_heap",
    "bench.hub_ingest",
    "bench.gate_lists",
    "bench.gate_latency",
    "bench.hub_import",
    "bench.console_pages",
]


def main() -> None:
    console = Console(width=120)
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            console.print(f"[yellow]{name}: not present, skipped[/]")
            continue
        console.print(module.run())


if __name__ == "__main__":
    main()
