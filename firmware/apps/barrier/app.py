"""Vehicle barrier with a plate camera: a plate read (plate, colour, confidence) is decided
from the vehicle list, the arm rises, and lowers once the vehicle cleared the loop (a second
vehicle over the loop on one grant is tailgating). The plate photo is the event's evidence;
a card reader is the fallback."""

from gate import Gate

from apps.access.app import need


class Barrier(Gate):
    kind = "barrier"
    watch_door = False  # the loop sees vehicles waiting, not a forced door

    def __init__(self, device, hal, cfg, **kw):
        need(hal, "barrier", "plate", "barrier", "loop")
        super().__init__(device, hal, cfg, hal.barrier, hal.loop, **kw)
        hal.plate.on_read(self.on_plate)
