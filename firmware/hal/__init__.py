"""Hardware abstraction layer: small interfaces, chosen by config only.

Interfaces (duck-typed; sim and board implementations provide the same methods):
- clock:      time() -> int Unix seconds (UTC), ticks_ms()
- camera:     capture(path) -> (path, size, mime)          writes the photo to `path`
              record(path, seconds) -> (path, size, mime)  writes a video clip to `path`
              (the simulator: a WebM cut from sim "video_src"; a camera without video has no
              record(); without one, or when it raises OSError, the handheld sends the report
              without the clip)
- microphone: record(path, seconds) -> (path, size, mime)  writes the clip to `path`
- gps:        fix() -> {"lat_e6", "lon_e6", "acc_m", "ts"} or None without a fix
- battery:    level() -> percent
- ui:         show(text); async next_action() -> dict | None; async choose(prompt, options,
              context) -> option (buttons + screen; the simulator's ScriptUI reads a scenario)

Gate parts (apps access / face / barrier; docs/access.md section 1). Outputs and sensors are
addressed by door id; inputs call the handler the gate registered, from a board's interrupt
through micropython.schedule (so a read is decided even while the main loop signs a batch):
- lock:    set(door, released), released(door) -> bool        the lock relay of every door
- barrier: the same interface for a barrier arm (released = raised)
- door:    is_open(door) -> bool; on_change(cb(door, is_open)); on_pass(cb(door)) (a person
           through the door: the beam or turnstile count)
- loop:    the same interface for the vehicle loop (on_pass: a vehicle cleared the loop)
- card:    on_read(cb(door, cred, value))   cred "card" (UID hex) or "qr" (the code's text)
- keypad:  on_read(cb(door, pin))
- exit, tamper, help: on_read(cb(door))     buttons and the tamper switch
- face:    on_read(cb(door, template | None, score, track)): a capture matched against the
           templates the module holds (track: the module's id of an unknown face, else None);
           enrol(person) -> template id made and kept on the device; delete(template) -> bool;
           templates() -> [template ids]
- plate:   on_read(cb(door, plate, colour, confidence 0..100))
- camera:  capture(path, size) as above (the face or plate capture photo)
hal.inputs, when not None, is an object with `async run()` that feeds the inputs (the
simulator's scenario player, hal/sim_gate.py); on a board the interrupts feed them.

`build(cfg)` reads cfg["hal"], which names the driver of every peripheral of the app
(hal.drivers.DRIVERS lists the known ones, APP_PARTS the parts of each app): {"camera":
"sim", "microphone": "none", "gps": "sim", "battery":
"board", "ui": "board"}. A peripheral not named, an unknown driver or an unknown peripheral is
a DriverError at start-up, never a silent simulated part. Nothing is created at import time.
The driver table and its checks live in hal/drivers.py, start-up-only code: main.py drops
that module once the Hal is built, so its bytecode does not stay in the heap.
"""


class DriverError(ValueError):
    """The board config names no driver, or an unknown one, for a peripheral."""


PARTS = (
    "camera",
    "microphone",
    "gps",
    "battery",
    "ui",
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


class Hal:
    def __init__(self, clock, inputs=None, **parts):
        self.clock = clock
        self.inputs = inputs
        for name in PARTS:
            setattr(self, name, parts.pop(name, None))
        if parts:
            raise TypeError("Hal: unknown parts %s" % ", ".join(parts))


def build(cfg):
    from hal import drivers

    return drivers.build(cfg)
