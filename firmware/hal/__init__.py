"""Hardware abstraction layer: small interfaces, chosen by config only.

Interfaces (duck-typed; sim and board implementations provide the same methods):
- clock:      time() -> int Unix seconds (UTC), ticks_ms()
- camera:     capture(path) -> (path, size, mime)          writes the photo to `path`
- microphone: record(path, seconds) -> (path, size, mime)  writes the clip to `path`
- gps:        fix() -> {"lat_e6", "lon_e6", "acc_m", "ts"} or None without a fix
- battery:    level() -> percent
- ui:         show(text); async next_action() -> dict | None; async choose(prompt, options,
              context) -> option (buttons + screen; the simulator's ScriptUI reads a scenario)

`build(cfg)` reads cfg["hal"], which names the driver of every peripheral (hal.drivers.DRIVERS
lists the known ones): {"camera": "sim", "microphone": "none", "gps": "sim", "battery":
"board", "ui": "board"}. A peripheral not named, an unknown driver or an unknown peripheral is
a DriverError at start-up, never a silent simulated part. Nothing is created at import time.
The driver table and its checks live in hal/drivers.py, start-up-only code: main.py drops
that module once the Hal is built, so its bytecode does not stay in the heap.
"""


class DriverError(ValueError):
    """The board config names no driver, or an unknown one, for a peripheral."""


class Hal:
    def __init__(self, clock, camera=None, microphone=None, gps=None, battery=None, ui=None):
        self.clock = clock
        self.camera = camera
        self.microphone = microphone
        self.gps = gps
        self.battery = battery
        self.ui = ui


def build(cfg):
    from hal import drivers

    return drivers.build(cfg)
