"""Board entry: read the config, build the HAL from it, run the device and its app.

On a board: /config.json. On the unix port: `micropython firmware/main.py --config path`, or
through the loader (firmware/loader.py), which runs this file from a firmware slot.
Import layout: firmware/lib (mqtt, outbox, device, ...), firmware/ (hal, apps) and the
protocol package must be on sys.path (MICROPYPATH in tests; /lib and / on a board).
"""

import sys


def heap_report(dev=None):
    """'peak=<bytes> hwm=<bytes> free=<bytes> total=<bytes>'. hwm: the live-heap high-water
    (gc.mem_alloc() after the collection of each supervision cycle).
    peak: micropython.mem_peak(), which on the unix port counts every m_malloc byte including
    the interpreter's own (not the GC heap): logged for completeness, not a heap figure."""
    import gc

    try:
        import micropython

        peak = micropython.mem_peak()
    except (ImportError, AttributeError):
        peak = -1
    hwm = getattr(dev, "heap_hwm", -1)
    return "peak=%d hwm=%d free=%d total=%d" % (peak, hwm, gc.mem_free(),
                                                gc.mem_free() + gc.mem_alloc())


def main(argv=None, boot=None):
    """Run the device. `boot`: what firmware/loader.py passes when it runs this slot
    ({"root", "slot", "version", "trial"}; docs/firmware.md, "OTA"); None when run straight
    from the repo."""
    import gc

    import launch

    r = launch.build(argv if argv is not None else getattr(sys, "argv", []), boot)
    # start-up only: forgotten, so the next collection frees its bytecode (~3 KB that
    # main.py, compiled from source and resident for the whole run, used to hold)
    sys.modules.pop("launch", None)
    launch = None
    if r is None:  # the update mode ran: into the new firmware's trial, or back
        _reset()
        return
    dev, app = r
    r = None
    gc.collect()
    import asyncio

    import log

    result = asyncio.run(dev.run(app))
    lg = log.getLogger("main")
    lg.info("app finished: %s", result)
    lg.info("heap %s", heap_report(dev))
    if result == "reboot":
        _reset()


def _reset():
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):  # unix port: the simulator restarts the process
        sys.exit(3)


if __name__ == "__main__":
    main()
