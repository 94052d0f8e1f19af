"""Make simulator/clips/source.webm, the real clip the simulated handheld camera records from
(firmware/hal/webm.py copies its clusters into a clip of the requested length).

    .venv/bin/python -m simulator.clips.make          # writes simulator/clips/source.webm

The ffmpeg binary is the one the `imageio-ffmpeg` wheel ships (the test extras install it).
What the firmware relies on, and `check` below asserts: WebM (VP8, no sound), 10 s, 320x240 at
15 frames/s, a keyframe every second and one cluster per second starting at that keyframe, so
any whole number of seconds can be cut or looped at a cluster boundary. The picture is
ffmpeg's testsrc2 pattern with its running clock, so a player shows which second it is at.
libvpx output is not byte-identical across ffmpeg builds: the checked-in file is the one the
tests use, this script is how it was made.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("source.webm")
SECONDS = 10
FPS = 15


def ffmpeg() -> str:
    import imageio_ffmpeg  # test extra, only needed to (re)make or probe a clip

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def make(out: Path = SOURCE) -> Path:
    cmd = [
        ffmpeg(), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}:duration={SECONDS}",
        "-c:v", "libvpx", "-b:v", "250k", "-deadline", "good", "-cpu-used", "4",
        "-g", str(FPS), "-keyint_min", str(FPS), "-auto-alt-ref", "0",
        "-cluster_time_limit", "1000", "-cluster_size_limit", "100000000",
        "-an", "-f", "webm", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


def probe_seconds(path: Path) -> float:
    """Decode the whole clip with ffmpeg (an error fails) and return the last frame's time."""
    proc = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or proc.stderr.strip():
        raise ValueError(f"{path}: does not decode: {proc.stderr.strip()[:500]}")
    proc = subprocess.run(
        [ffmpeg(), "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, check=False
    )
    times = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if "time=" in ln]
    h, m, s = times[-1].split("time=")[1].split()[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


if __name__ == "__main__":
    made = make(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
    print(made, made.stat().st_size, "bytes", probe_seconds(made), "s")
