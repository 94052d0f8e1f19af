"""Hardware abstraction layer: small interfaces, chosen by config only.

Interfaces (duck-typed; sim and board implementations provide the same methods):
- clock:      time() -> int Unix seconds (UTC), ticks_ms()
- camera:     capture(path) -> (path, size, mime)          writes the photo to `path`
- microphone: record(path, seconds) -> (path, size, mime)  writes the clip to `path`
- gps:        fix() -> {"lat_e6", "lon_e6", "acc_m", "ts"} or None without a fix
- battery:    level() -> percent
- ui:         show(text); async next_action() -> dict | None; async choose(prompt, options,
              context) -> option (buttons + screen; the simulator's ScriptUI reads a scenario)

`build(cfg)` reads cfg["hal"] (e.g. {"camera": "sim", "gps": "sim", ...}); "sim" picks
hal.sim, "board" picks hal.board (the only module allowed to import machine). Nothing is
created at import time.
"""

VERSION = "0.1.0"


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
    sim = cfg.get("sim") or {}
    clock = Clock(cfg.get("clock_offset_s", 0))
    parts = {}
    for name in ("camera", "microphone", "gps", "battery", "ui"):
        kind = sel.get(name, "sim")
        if kind == "none":
            parts[name] = None
        elif kind == "sim":
            parts[name] = _sim(name, clock, sim, cfg)
        elif kind == "board":
            from hal import board

            parts[name] = board.make(name, clock, cfg)
        else:
            raise ValueError("unknown hal %s: %s" % (name, kind))
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
