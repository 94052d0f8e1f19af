"""bench/firmware_heap.py's search and verdict, on a stand-in for the device (no firmware run)."""

from __future__ import annotations

from bench.firmware_heap import bisect, distance


def test_bisection_finds_the_smallest_passing_heap_in_steps() -> None:
    probed: list[int] = []

    def passes(kb: int) -> bool:
        probed.append(kb)
        return kb >= 186

    assert bisect(passes, 32, 256, 4) == 188
    assert len(probed) <= 7 and 256 not in probed  # the ceiling is not run once below passed


def test_a_ceiling_that_fails_gives_no_heap() -> None:
    probed: list[int] = []
    assert bisect(lambda kb: probed.append(kb) or False, 32, 512, 4) is None
    assert probed[-1] == 512


def test_the_distance_to_128k() -> None:
    assert distance(128, 256) == "128K: reached"
    assert distance(100, 256) == "128K: reached"
    assert distance(188, 256) == "+60K over"
    assert distance(None, 512) == "fails at 512K"
