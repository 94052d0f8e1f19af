"""Hardware abstraction layer: small interfaces, chosen by config only.

Interfaces (duck-typed; sim and board implementations provide the same methods):
- clock:      time() -> int Unix seconds (UTC), ticks_ms()
- camera:     capture(path) -> (path, size, mime)          writes the photo to `path`
- microphone: record(path, seconds) -> (path, size, mime)  writes the clip to `path`
- gps:        fix() -> {"lat_e6", "lon_e6", "acc_m", "ts"} or None without a fix
- battery:    level() -> percent
- ui:         show(text); async next_action() -> dict | None; async choose(prompt, options,
              context) -> option (buttons + screen; the simulator's ScriptUI reads a scenario)

`build(cfg)` reads cfg["hal"], which names the driver of every peripheral (DRIVERS lists the
known ones): {"camera": "sim", "microphone": "none", "gps": "sim", "battery": "board",
"ui": "board"}. "sim" picks hal.sim, "board" picks hal.board (the only module allowed to
import machine), "none" leaves the peripheral out. A peripheral not named, an unknown driver
or an unknown peripheral is a DriverError at start-up, never a silent simulated part. Nothing
is created at import time.
"""

VERSION = "0.1.0"

# peripheral -> the drivers that exist for it
DRIVERS = (
    ("camera", "sim, none"),
    ("microphone", "sim, none"),
    ("gps", "sim, none"),
    ("battery", "sim, board, none"),
    ("ui", "sim, board, none"),
)


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
    from hal.clock import Clock

    sel = cfg.get("hal") or {}
    names = [d[0] for d in DRIVERS]
    for name in sel:
        if name not in names:
            raise DriverError("hal %s: unknown peripheral (known: %s)" % (name, ", ".join(names)))
    sim = cfg.get("sim") or {}
    clock = Clock(cfg.get("clock_offset_s", 0))
    parts = {}
    for name, known in DRIVERS:
        kind = sel.get(name)
        if kind not in known.split(", "):
            raise DriverError("hal %s: %s (known: %s)" % (
                name, "no driver named" if kind is None else "unknown driver %r" % kind, known))
        if kind == "sim":
            parts[name] = _sim(name, clock, sim, cfg)
        elif kind == "board":
            from hal import board

            parts[name] = board.make(name, clock, cfg)
    return Hal(clock, **parts)


def _sim(name, clock, sim, cfg):
    from hal import sim as s

    if name == "camera":
        return s.SimCamera(sim.get("photo_bytes", 200000))
    if name == "microphone":
        return s.SimMicrophone(sim.get("audio_rate", 8000))
    if name == "gps":
        route = sim.get("route") or [[30274100, 120155100]]
        return s.SimGPS(clock, route, sim.get("speed_mps", 1.5), sim.get("acc_m", 5))
    if name == "battery":
        return s.SimBattery(clock, sim.get("battery_start", 100), sim.get("battery_drain_per_h", 5))
    if name == "ui":
        return s.ScriptUI(
            clock, sim.get("scenario") or [], sim.get("answers"), sim.get("echo", False)
        )
    raise ValueError(name)
