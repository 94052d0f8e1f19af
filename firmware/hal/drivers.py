"""hal.build's driver table and checks: start-up-only code (main.py drops this module once
the Hal is built; see hal/__init__.py).

"sim" picks hal.sim (handheld parts) or hal.sim_gate (gate parts, one simulated site shared
by them), "board" picks hal.board (the only module allowed to import machine), "none" leaves
the peripheral out. Every peripheral of the config's app must be named; a peripheral the app
does not have is unknown.
"""

from hal import DriverError, Hal

# peripheral -> the drivers that exist for it
DRIVERS = (
    ("camera", "sim, none"),
    ("microphone", "sim, none"),
    ("gps", "sim, none"),
    ("battery", "sim, board, none"),
    ("ui", "sim, board, none"),
    ("lock", "sim, none"),
    ("door", "sim, none"),
    ("exit", "sim, none"),
    ("card", "sim, none"),
    ("keypad", "sim, none"),
    ("face", "sim, none"),
    ("plate", "sim, none"),
    ("barrier", "sim, none"),
    ("loop", "sim, none"),
    ("tamper", "sim, none"),
    ("help", "sim, none"),
)

# the peripherals of each app (docs/access.md section 1; battery: the backup cell)
APP_PARTS = {
    "handheld": ("camera", "microphone", "gps", "battery", "ui"),
    "access": ("lock", "door", "exit", "card", "keypad", "tamper", "help", "battery"),
    "face": (
        "face",
        "camera",
        "lock",
        "door",
        "exit",
        "card",
        "keypad",
        "tamper",
        "help",
        "battery",
    ),
    "barrier": ("plate", "camera", "barrier", "loop", "card", "tamper", "help", "battery"),
}

_GATE = (
    "lock",
    "door",
    "exit",
    "card",
    "keypad",
    "face",
    "plate",
    "barrier",
    "loop",
    "tamper",
    "help",
)


def build(cfg):
    from hal.clock import Clock

    sel = cfg.get("hal") or {}
    names = APP_PARTS.get(cfg.get("app", "handheld"), APP_PARTS["handheld"])
    for name in sel:
        if name not in names:
            raise DriverError("hal %s: unknown peripheral (known: %s)" % (name, ", ".join(names)))
    sim = cfg.get("sim") or {}
    clock = Clock(cfg.get("clock_offset_s", 0))
    parts = {}
    site = None
    for name, known in DRIVERS:
        if name not in names:
            continue
        kind = sel.get(name)
        if kind not in known.split(", "):
            raise DriverError(
                "hal %s: %s (known: %s)"
                % (name, "no driver named" if kind is None else "unknown driver %r" % kind, known)
            )
        if kind == "sim" and name in _GATE:
            if site is None:
                site = _site(cfg, clock, sim)
            parts[name] = _sim_gate(name, site, cfg, sim)
        elif kind == "sim":
            parts[name] = _sim(name, clock, sim)
        elif kind == "board":
            from hal import board

            parts[name] = board.make(name, clock, cfg)
    return Hal(clock, inputs=site, **parts)


def _site(cfg, clock, sim):
    from hal import sim_gate

    doors = [d.get("id") for d in cfg.get("doors") or () if isinstance(d, dict)]
    return sim_gate.SiteSim(
        clock, sim.get("scenario") or [], doors or ["d1"], sim.get("relay_log")
    )


def _sim_gate(name, site, cfg, sim):
    from hal import sim_gate as g

    if name in ("lock", "barrier"):
        return g.SimRelay(site)
    if name in ("door", "loop"):
        return g.SimPosition(site)
    if name == "face":
        return g.SimFace(
            site,
            cfg.get("flash", "/flash") + "/face.db",
            sim.get("people"),
            sim.get("templates"),
            sim.get("faces"),
        )
    if name == "plate":
        return g.SimPlate(site)
    return g.SimInput(site, name)


def _sim(name, clock, sim):
    from hal import sim as s

    if name == "camera":
        return s.SimCamera(sim.get("photo_bytes", 200000), sim.get("video_src"))
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
