"""Video clips for the tests: the WebM the simulated handheld camera makes, cut by the
firmware's own cutter (firmware/hal/webm.py, pure MicroPython-subset code) run under CPython
from the checked-in source clip, so a test knows the exact bytes a device sends.

    data = clip(10)                 # a 10 s VP8 WebM, ~315 KB
    seconds = decoded_seconds(p)    # ffmpeg decodes the file whole (an error fails)
"""

from __future__ import annotations

import importlib.util
import io
from functools import cache
from pathlib import Path
from types import ModuleType

from simulator.clips.make import probe_seconds
from simulator.fleet import VIDEO_SOURCE

WEBM = Path(__file__).resolve().parents[2] / "firmware" / "hal" / "webm.py"


@cache
def _webm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gridlink_fw_webm", WEBM)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def clip(seconds: int, source: Path = VIDEO_SOURCE) -> bytes:
    out = io.BytesIO()
    with open(source, "rb") as src:
        _webm().cut(src, out, seconds, bytearray(4096))
    return out.getvalue()


def decoded_seconds(path: Path) -> float:
    return probe_seconds(path)
