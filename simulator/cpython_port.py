"""What the MicroPython unix port gives the firmware that CPython lacks, for the crowd runner
(simulator/crowd.py), which runs the same firmware code under CPython for large fleets.

``install()`` adds to CPython's own modules, in the crowd's process only:

- ``time.ticks_ms`` / ``ticks_us`` / ``ticks_add`` / ``ticks_diff`` with MicroPython's
  wrap-around (a 2**30 period, so a wrap is exercised after 12 days, as on the port) and
  ``asyncio.sleep_ms``;
- ``firmware_modules()`` then gives each loaded firmware module a ``gc`` of its own
  (``Heap``): MicroPython's ``mem_free`` / ``mem_alloc`` / ``threshold`` do not exist in
  CPython, and the firmware's heap-trimming ``gc.collect()`` (the 192K heap does not move
  objects; the handheld collects every half second) does nothing: CPython frees by reference
  counting and its own collector runs as ``tune_collector()`` sets it;
- ``tune_collector()``: a process holding 10,000 devices holds millions of long-lived objects,
  and CPython's default thresholds had its cyclic collector take 60 % of the process's CPU
  (py-spy, 10,000 idle handhelds); young collections every 100,000 allocations instead of 700,
  and what start-up built frozen out of the collector's scans (``freeze()``).

The crowd also turns ``device._forget`` (dropping a rarely used module so MicroPython frees its
bytecode) into nothing: a module imported again would be a new module with CPython's ``gc``,
and there is no bytecode to save. Nothing else of the firmware changes.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from types import ModuleType

TICKS_PERIOD = 1 << 30
_HALF = TICKS_PERIOD // 2


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1_000_000) & (TICKS_PERIOD - 1)


def ticks_us() -> int:
    return (time.monotonic_ns() // 1_000) & (TICKS_PERIOD - 1)


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) & (TICKS_PERIOD - 1)


def ticks_diff(a: int, b: int) -> int:
    return ((a - b + _HALF) & (TICKS_PERIOD - 1)) - _HALF


async def sleep_ms(ms: int) -> None:
    await asyncio.sleep(ms / 1000)


class Heap:
    """MicroPython's gc calls for a firmware module under CPython (figures: this process's)."""

    @staticmethod
    def collect() -> int:
        return 0  # CPython's own collector runs as tune_collector() sets it

    @staticmethod
    def mem_free() -> int:
        return 0

    @staticmethod
    def mem_alloc() -> int:
        return 0

    @staticmethod
    def threshold(*_args: int) -> int:
        return 0

    @staticmethod
    def enable() -> None:
        pass

    @staticmethod
    def disable() -> None:
        pass


def tune_collector() -> None:
    gc.set_threshold(100_000, 20, 100)


def freeze() -> None:
    """What exists now (the devices built) is left out of every later collection."""
    gc.collect()
    gc.freeze()


def install() -> None:
    for name, fn in (("ticks_ms", ticks_ms), ("ticks_us", ticks_us), ("ticks_add", ticks_add),
                     ("ticks_diff", ticks_diff)):  # fmt: skip
        setattr(time, name, fn)
    asyncio.sleep_ms = sleep_ms  # type: ignore[attr-defined]


def firmware_modules(roots: list[str]) -> list[ModuleType]:
    """Give each loaded module from under ``roots`` (the firmware's directories) ``Heap`` for
    its ``gc``; the modules patched."""
    out = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if any(path.startswith(r) for r in roots) and getattr(module, "gc", None) is gc:
            module.gc = Heap  # type: ignore[attr-defined]
            out.append(module)
    return out
