"""The simulated camera's video (firmware/hal/webm.py through hal.sim.SimCamera.record) on the
MicroPython unix port: a clip of any whole number of seconds cut from the real source clip,
streamed (a 25 s clip of ~790 KB, looped from the 10 s source, in a 40 KB heap), byte for byte
what the same code makes under CPython, and decoded whole by ffmpeg at its length. A source
that is no WebM, or no source, is a clear error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simulator.fleet import VIDEO_SOURCE
from tests.support.video import clip, decoded_seconds

RECORD = """
import gc, sys
from hal import sim
def main():
    cam = sim.SimCamera(1000, sys.argv[1] if sys.argv[1] != "-" else None)
    held = []
    try:
        for _ in range(2):  # the second clip's live heap after it: what one clip leaves
            gc.collect()
            held.append(gc.mem_alloc())
            _, size, mime = cam.record(sys.argv[2], int(sys.argv[3]))
        gc.collect()
        print("OK", size, mime, "hal.webm" in sys.modules, gc.mem_alloc() - held[1])
    except (ValueError, OSError) as e:
        print("ERR", type(e).__name__, e)
main()
"""


@pytest.mark.parametrize("seconds", [3, 10, 25])
def test_a_clip_is_cut_streamed_in_a_small_heap(run_mpy, tmp_path: Path, seconds: int) -> None:
    out = tmp_path / "clip.webm"
    got = run_mpy(RECORD, VIDEO_SOURCE, out, seconds, heapsize="40K").split()
    want = clip(seconds)
    # the cutter's module is dropped after each clip: a clip leaves nothing on the heap
    assert got[:5] == ["OK", str(len(want)), "video/webm", "False", "0"], got
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(want).hexdigest()
    assert decoded_seconds(out) == pytest.approx(seconds, abs=0.1)
    if seconds > 10:  # longer than the source: looped, and bigger than the heap many times
        assert len(want) > 19 * 40 * 1024


def test_a_source_that_is_no_webm_or_none_is_a_clear_error(run_mpy, tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + bytes(4000))
    out = run_mpy(RECORD, bad, tmp_path / "a.webm", 10).strip().splitlines()[-1]
    assert out == "ERR ValueError webm: source is not an EBML file"
    out = run_mpy(RECORD, "-", tmp_path / "b.webm", 10).strip().splitlines()[-1]
    assert out.startswith("ERR OSError") and "no sim video_src" in out, out
    out = run_mpy(RECORD, VIDEO_SOURCE, tmp_path / "c.webm", 0).strip().splitlines()[-1]
    assert out == "ERR ValueError webm: a clip of at least 1 s"
