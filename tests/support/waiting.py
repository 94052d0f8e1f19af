"""The one wait-until helper for tests: poll a condition instead of sleeping a fixed time.

    event = wait_until("the report stored", lambda: hub.events(dev, "report"), timeout=30)

Timeouts are generous on purpose (the suite runs on 2 shared cores); a passing test waits only
as long as the condition takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    what: str,
    probe: Callable[[], T],
    timeout: float = 30,
    interval: float = 0.1,
    detail: Callable[[], object] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy and return that; AssertionError naming
    ``what`` (and ``detail()``, when given) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def device_state(dev, timeout: float = 10) -> dict:
    """A running simulated device's saved state, waiting out the instant in which a save has
    renamed the old file away and not yet the new one into place."""
    return wait_until(f"{dev.device_id}'s saved state", dev.state, timeout)
