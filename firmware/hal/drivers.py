"""hal.build's driver table and checks: start-up-only code (main.py drops this module once
the Hal is built; see hal/__init__.py).

"sim" picks hal.sim, "board" picks hal.board (the only module allowed to import machine),
"none" leaves the peripheral out.
"""

from hal import DriverError, Hal

# peripheral -> the drivers that exist for it
DRIVERS = (
    ("camera", "sim, none"),
    ("microphone", "sim, none"),
    ("gps", "sim, none"),
    ("battery", "sim, board, none"),
    ("ui", "sim, board, none"),
)


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
            parts[name] = _sim(name, clock, sim)
        elif kind == "board":
            from hal import board

            parts[name] = board.make(name, clock, cfg)
    return Hal(clock, **parts)


def _sim(name, clock, sim):
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
