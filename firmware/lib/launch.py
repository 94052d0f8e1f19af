"""main.py's start-up, run once and then forgotten (main.py drops the module, so its bytecode
does not stay in the handheld's 192K heap for the whole run, as main.py's own does: main.py is
compiled from source at every boot and stays resident while it runs):

    r = launch.build(argv, boot)   # (device, app), or None when the update mode ran (reset)

It reads the config, runs the update mode when a job waits (lib/updater.py), takes the
long-lived blocks first (the upload buffer, the TLS context), loads the runtime, builds the
HAL, the Device and the app.
"""

import sys


def _config_path(argv):
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return "/config.json"


def _app(cfg, device, hal):
    kind = cfg.get("app", "handheld")
    if kind == "handheld":
        from apps.handheld import Handheld

        return Handheld(device, hal, cfg)
    if kind == "access":
        from apps.access import Access

        return Access(device, hal, cfg)
    if kind == "face":
        from apps.face import Face

        return Face(device, hal, cfg)
    if kind == "barrier":
        from apps.barrier import Barrier

        return Barrier(device, hal, cfg)
    raise ValueError("unknown app %s" % kind)


def _preload(cfg):
    # The long-lived modules first, with a collection after each: their bytecode (.mpy, from
    # provisioning/mpy.py) settles at the bottom of the heap before anything short-lived.
    # Run from source (a developer's board), this also compiles the largest first, while
    # the heap is empty: a compile needs transient RAM about the size of its parse tree.
    import gc

    app = cfg.get("app", "handheld")
    # device first: the largest, and it pulls in the whole runtime (mqtt, outbox, upload,
    # protocol) right after it
    names = ["device", "apps.%s.app" % app, "hal.sim"]
    if app != "handheld":
        names[1:1] = ["gate", "acl", "decide", "batch", "hal.sim_gate"]
    for name in names:
        if name.startswith("hal.sim") and "sim" not in (cfg.get("hal") or {}).values():
            continue
        __import__(name)
        gc.collect()


def _drop(name):
    # forget a start-up-only module (hal.drivers, config_load): once nothing refers to
    # it, the next collection frees its bytecode, which would otherwise stay in the heap
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    if pkg and pkg in sys.modules:
        try:
            delattr(sys.modules[pkg], attr)
        except AttributeError:
            pass


def build(argv, boot):
    """The Device and its app for the config named in argv (docs/firmware.md, "Config"); None
    after the update mode ran (main.py resets)."""
    import gc

    import config
    import log

    gc.collect()
    cfg = config.load(_config_path(argv))
    _drop("config_load")
    gc.collect()
    log.set_level(cfg.get("log_level", "info"))
    # the update mode (lib/updater.py, the download alone in the heap): an accepted job on a
    # confirmed slot (a trial, or a rollback to report, runs the firmware first: it settles
    # the job against them)
    if boot and cfg.get("ota_mode") == "reboot" and not (boot.get("trial")
                                                         or boot.get("rolled_back")):
        from compat import exists

        if exists(boot["root"] + "/fw/job.json"):
            import updater

            updater.main(cfg, boot)
            return None
    # the long-lived blocks first, while the free heap is one run: the upload buffer (2 KiB,
    # chunks stream through it: upload.py) and the broker's TLS context (~4 KB, and mbedTLS
    # wants 3 KB in one piece)
    buf = bytearray(2048)
    b = cfg["broker"]
    if b.get("tls"):
        import tlsctx

        tls = tlsctx.context(b)
    else:
        tls = None
    _preload(cfg)
    import hal as hal_mod

    h = hal_mod.build(cfg)
    _drop("hal.drivers")
    # collect after every `gc_threshold` bytes allocated instead of only when the heap is
    # exhausted: garbage is freed before it interleaves with live objects, which keeps the
    # 192K heap from fragmenting (MicroPython's GC does not move objects)
    if cfg.get("gc_threshold", 4096):
        gc.threshold(cfg.get("gc_threshold", 4096))
    from device import Device

    dev = Device(cfg, h, cfg.get("flash"), upload_buf=buf, tls=tls, boot=boot)
    buf = tls = None
    return dev, _app(cfg, dev, h)
