"""Simulated peripherals that produce real data (selected by config "hal": {...: "sim"}).

Every class takes what it needs through its constructor; none touches hardware.
"""

import asyncio
import json

from hal import jpeg, wav


class SimCamera:
    """camera.capture(path) -> (path, size, mime): writes a real baseline JPEG of
    `photo_bytes` (streamed), different content per shot.

    camera.record(path, seconds) -> (path, size, "video/webm"): a real WebM clip of `seconds`
    cut from the source clip `video_src` (hal/webm.py: its clusters copied through the same
    preallocated buffer, looped when the source is shorter; the module is imported for the
    clip and dropped after it, so its code is off the heap between clips). Without a source
    it raises OSError (ENOENT): the simulator's config names none."""

    def __init__(self, photo_bytes=200000, video_src=None):
        self.photo_bytes = int(photo_bytes)
        self.video_src = video_src
        self.shots = 0
        self.buf = bytearray(jpeg.PATTERN_BYTES)  # allocated once: no 4 KiB hunt per shot

    def capture(self, path, size=None):
        self.shots += 1
        size = int(size or self.photo_bytes)
        with open(path, "wb") as f:
            jpeg.write(f, size, self.shots, self.buf)
        return path, size, "image/jpeg"

    def record(self, path, seconds):
        if not self.video_src:
            raise OSError(2, "camera: no sim video_src configured")
        from hal import webm

        try:
            with open(self.video_src, "rb") as src, open(path, "wb") as out:
                size = webm.cut(src, out, seconds, self.buf)
        finally:
            _drop("hal.webm")
        return path, size, "video/webm"


def _drop(name):
    # a module used only now and then: off sys.modules (and its package), so the next
    # collection frees its bytecode
    import sys

    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
        delattr(sys.modules[pkg], attr)


class SimMicrophone:
    """microphone.record(path, seconds) -> (path, size, mime): a real WAV (8 kHz, 16-bit mono)."""

    def __init__(self, rate=8000):
        self.rate = int(rate)
        self.buf = bytearray(wav.BUF_BYTES)

    def record(self, path, seconds):
        with open(path, "wb") as f:
            size = wav.write(f, seconds, self.rate, buf=self.buf)
        return path, size, "audio/wav"


def _interp(a, b, num, den):
    return a + (b - a) * num // den


class SimGPS:
    """gps.fix() -> {"lat_e6", "lon_e6", "acc_m", "ts"}: moves along a route of waypoints
    [[lat_e6, lon_e6], ...] at `speed_mps`, back and forth, driven by the injected clock."""

    def __init__(self, clock, route, speed_mps=1.5, acc_m=5):
        if not route:
            raise ValueError("gps route needs at least one waypoint")
        self.clock = clock
        self.route = [(int(p[0]), int(p[1])) for p in route]
        self.speed = speed_mps
        self.acc_m = int(acc_m)
        self.t0 = clock.time()
        # segment lengths in metres (equirectangular; plenty for a grid a few km wide)
        self.seg = []
        for i in range(len(self.route) - 1):
            (a, b), (c, d) = self.route[i], self.route[i + 1]
            dy = (c - a) * 0.111
            dx = (d - b) * 0.111 * 0.85
            self.seg.append(max(1, int((dx * dx + dy * dy) ** 0.5)))

    def fix(self):
        now = self.clock.time()
        if not self.seg:
            lat, lon = self.route[0]
        else:
            total = sum(self.seg)
            d = int((now - self.t0) * self.speed) % (2 * total)
            if d > total:
                d = 2 * total - d
            i = 0
            while i < len(self.seg) - 1 and d > self.seg[i]:
                d -= self.seg[i]
                i += 1
            d = min(d, self.seg[i])
            (a, b), (c, e) = self.route[i], self.route[i + 1]
            lat = _interp(a, c, d, self.seg[i])
            lon = _interp(b, e, d, self.seg[i])
        return {"lat_e6": lat, "lon_e6": lon, "acc_m": self.acc_m, "ts": now}


class SimBattery:
    """battery.level() -> percent, draining `drain_per_h` percent an hour from `start`."""

    def __init__(self, clock, start=100, drain_per_h=5):
        self.clock = clock
        self.start = start
        self.drain = drain_per_h
        self.t0 = clock.time()

    def level(self):
        used = (self.clock.time() - self.t0) * self.drain // 3600
        return max(0, int(self.start - used))


class ScriptUI:
    """Buttons + screen driven by a scenario script instead of a person.

    The script is a JSON-lines file (or a list) of actions, each {"at": seconds since start,
    "do": <action>, ...}; `answers` auto-answers prompts: {"task": ["accept", "progress",
    "close"], "verify": "confirm"}. Screen output is kept (last `keep` lines) and printed when
    `echo` is set.
    """

    def __init__(self, clock, script=(), answers=None, echo=False, keep=20):
        self.clock = clock
        self.t0 = clock.ticks_ms()
        if isinstance(script, str):
            script = _read_jsonl(script)
        self.script = list(script)
        self.answers = answers or {}
        self.echo = echo
        self.keep = keep
        self.screen = []
        self.pos = 0

    def show(self, text):
        self.screen.append(text)
        if len(self.screen) > self.keep:
            self.screen.pop(0)
        if self.echo:
            print("[screen]", text)

    def remaining(self):
        return len(self.script) - self.pos

    async def next_action(self):
        """The next scripted action once its time has come; None when the script is done."""
        import asyncio

        if self.pos >= len(self.script):
            return None
        act = self.script[self.pos]
        self.pos += 1
        due = int(act.get("at", 0) * 1000)
        while True:
            wait = due - self.elapsed_ms()
            if wait <= 0:
                return act
            await asyncio.sleep_ms(min(wait, 1000))

    def elapsed_ms(self):
        import time

        return time.ticks_diff(self.clock.ticks_ms(), self.t0)

    async def choose(self, prompt, options, context=None):
        """Ask the worker to pick one of `options`; scripted answers are consumed in order
        per prompt kind (a list) or repeated (a string); default: the first option. The answer
        "wait" plays a worker who has not answered yet: the prompt stays open."""
        self.show(prompt)
        ans = self.answers.get(context or prompt)
        if ans == "wait":
            while True:
                await asyncio.sleep(3600)
        if isinstance(ans, list):
            pick = ans.pop(0) if ans else options[0]
        elif ans:
            pick = ans
        else:
            pick = options[0]
        return pick if pick in options else options[0]


def _read_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(json.loads(line))
    return out
