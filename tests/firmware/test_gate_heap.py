"""The gates' heap through the real start path (firmware/main.py on MicroPython, as the
simulator's Fleet runs it, against a real Mosquitto): a 600-read rush completes at the heap
limit docs/firmware.md states (Fleet.add_gate's default), and the live-heap high-water does
not rise with the number of reads (a leak of even a small string per capture, like the
outbox's path index once was, adds tens of KiB over 400 reads)."""

from __future__ import annotations

import re

import pytest

from simulator import Fleet, scenarios
from simulator.fleet import GATE_HEAPSIZE
from tests.support.mosquitto import Mosquitto

READS = 600
# hwm after 600 reads vs after 200: bounded tables filling (the face terminal's 32 tracked
# strangers, ~3 KB), allocator noise, an upload backlog's two ints a record; a leak of one
# path string per capture would add ~36 KB over those 400 reads
GROWTH_MAX = 8 * 1024
_HWM = re.compile(r"gate reads=(\d+) hwm=(\d+)")
_HEAP = re.compile(r"heap peak=-?\d+ hwm=(\d+) free=\d+ total=(\d+)")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["face", "barrier", "access"])
def test_a_600_read_rush_runs_at_the_stated_heap_and_the_high_water_stays_flat(tmp_path, kind):
    comm = scenarios.community(seed=1)
    rush, _ = scenarios.morning_rush(comm, kind, events=READS, duration_s=120)
    with Mosquitto(workdir=tmp_path / "broker") as broker:
        fleet = Fleet(
            broker.host, broker.port, root=tmp_path / "fleet", accounts=broker.device_account
        )
        try:
            dev = fleet.add_gate(
                f"gt-{kind}-heap", kind, "33010200100101", scenario=rush,
                people=comm["people"], templates=comm["templates"], lists=comm["entries"],
                heartbeat_s=0,
            )  # fmt: skip
            assert dev.heapsize == GATE_HEAPSIZE
            dev.start()
            rc = dev.wait(900)
            log = dev.log()
        finally:
            fleet.cleanup()
    assert rc == 0, log[-4000:]
    marks = [(int(n), int(h)) for n, h in _HWM.findall(log)]
    at200 = next(h for n, h in marks if n >= 200)
    assert marks[-1][0] == READS, marks
    hwm, total = map(int, _HEAP.findall(log)[-1])
    assert marks[-1][1] - at200 <= GROWTH_MAX, marks
    assert hwm < total, (hwm, total)
