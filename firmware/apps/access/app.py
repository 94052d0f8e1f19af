"""Door access controller: cards, QR codes and PINs at one or more doors, each with its lock
relay, door-position sensor and exit button (docs/access.md). All the behaviour is the
shared gate core (lib/gate.py); this app names its parts."""

from gate import Gate
from hal import DriverError


def need(hal, app, *names):
    for name in names:
        if getattr(hal, name) is None:
            raise DriverError("hal %s: the %s app needs one (not none)" % (name, app))


class Access(Gate):
    kind = "access"

    def __init__(self, device, hal, cfg, **kw):
        need(hal, "access", "lock", "door")
        super().__init__(device, hal, cfg, hal.lock, hal.door, **kw)
