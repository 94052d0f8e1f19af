"""The gates' heap through the real start path (firmware/main.py on MicroPython, as the
simulator's Fleet runs it, against a real Mosquitto): a 600-read rush completes at the heap
limit docs/firmware.md states (Fleet.add_gate's default), and the live-heap high-water does
not rise with the number of reads (a leak of even a small string per capture, like the
outbox's path index once was, adds tens of KiB over 400 reads).

Sensitivity: the growth is measured over the 400 reads after the 200th and may be at most
GROWTH_MAX (8 KiB). The smallest heap object on the 64-bit unix port is one 32-byte GC block,
so a leak of one object per read adds 400 x 32 = 12.5 KiB and fails the test, and so does one
object every 1.5 reads; a leaked capture path (~96 B) fails it at one capture in 4.7 reads.
Fewer reads would lose that: over 200 reads one block a read is 6.25 KiB, under the bound.

Pace: 600 reads in 60 s (10 a second). The gate keeps up on an idle machine (site lag p50
26 ms, p99 0.2 s, docs/access.md "Where a read's time goes"), so the run is the reads and no
backlog; it was 120 s when a read cost ~0.3 s of the gate's time (the signature's collections
and the simulated camera)."""

from __future__ import annotations

import re

import pytest

from simulator import Fleet, scenarios
from simulator.fleet import GATE_HEAPSIZE
from tests.support.mosquitto import Mosquitto

READS = 600
DURATION_S = 60
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
    rush, _ = scenarios.morning_rush(comm, kind, events=READS, duration_s=DURATION_S)
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
