"""The loader: picks the firmware slot to run from <flash>/fw/boot.json and runs it.

On a board this file is /main.py; on the unix port:
    MICROPYPATH=.frozen micropython firmware/loader.py --config cfg.json
It is never part of a bundle (docs/firmware.md, "OTA"), so it stays small and imports only
sys, os and json. A trial boot (the slot came over the air and is not confirmed yet) is
counted before the slot runs; a third unconfirmed boot, or an exception from the slot's
import or main(), switches back to the previous slot (boot.json rewritten atomically, the
same tmp / .bak discipline as lib/state.py) and resets. Exit codes on the unix port: the
slot's own, 3 = reset (the simulator restarts the process), 2 = nothing bootable.
"""

import json
import os
import sys

MAX_TRIAL_BOOTS = 2  # boots on probation without a confirmation before a rollback


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _read(path):
    with open(path) as f:
        d = json.load(f)
    if not isinstance(d, dict) or d.get("slot") not in ("a", "b"):
        raise ValueError("boot record is not an object naming slot a or b")
    return d


def read_boot(path):
    """The boot record at path (recovering a save a power cut interrupted, like
    state.State); None when there is none; ValueError when every copy is corrupt."""
    tmp = path + ".tmp"
    if not _exists(path) and _exists(tmp):  # cut between the two renames of write_boot
        try:
            _read(tmp)
            os.rename(tmp, path)
        except ValueError:  # torn while being written: the previous record stands
            os.remove(tmp)
    for p in (path, path + ".bak"):
        if _exists(p):
            try:
                return _read(p)
            except ValueError:
                continue
    if _exists(path) or _exists(path + ".bak"):
        raise ValueError("boot record corrupt: " + path)
    return None


def write_boot(path, d):
    """Atomically: tmp written, the previous record kept as .bak, tmp renamed over."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(d, f)
    if _exists(path):
        try:
            os.rename(path, path + ".bak")
        except OSError:  # FAT will not rename over a file
            os.remove(path + ".bak")
            os.rename(path, path + ".bak")
    os.rename(tmp, path)


def rollback(path, boot, reason):
    """Switch boot.json back to the trial's previous slot; the new record."""
    t = boot["trial"]
    new = {"slot": t["prev"], "version": t["prev_version"], "trial": None,
           "rolled_back": {"rollout": t.get("rollout"), "manifest": t.get("manifest"),
                           "version": boot.get("version"), "reason": reason}}
    write_boot(path, new)
    return new


def config_path(argv):
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return "/config.json"


def choose(flash):
    """(boot record, boot path) for this boot: a trial boot counted, a trial that used up
    its boots rolled back. None when flash holds no boot record."""
    path = flash + "/fw/boot.json"
    boot = read_boot(path)
    if boot is None:
        return None, path
    t = boot.get("trial")
    if t:
        if t.get("boots", 0) >= MAX_TRIAL_BOOTS:
            boot = rollback(path, boot, "no_confirm")
        else:
            t["boots"] = t.get("boots", 0) + 1
            try:
                write_boot(path, boot)  # counted before the slot runs: a hang counts too
            except OSError as e:
                # an uncounted trial could hang or crash-loop for ever: the previous slot
                # (recorded as a rollback when the flash takes it, else for this boot only)
                print("loader: trial boot not counted (%r): booting slot %s" % (e, t["prev"]))
                try:
                    boot = rollback(path, boot, "boot_count: OSError")
                except OSError:
                    boot = {"slot": t["prev"], "version": t["prev_version"], "trial": None,
                            "rolled_back": None}
    return boot, path


def _open(path, boot, trial):
    """Whether boot.json still holds this boot's trial (the slot may have committed since)."""
    try:
        now = read_boot(path)
    except (OSError, ValueError):
        return True
    t = now and now.get("trial")
    return bool(t) and now["slot"] == boot["slot"] and t.get("manifest") == trial.get("manifest")


def reset():
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):  # unix port: the simulator restarts the process
        sys.exit(3)


def run(argv):
    cfg = config_path(argv)
    try:
        with open(cfg) as f:
            flash = json.load(f).get("flash") or "/flash"
    except (OSError, ValueError) as e:
        print("loader: cannot read the config %s: %r" % (cfg, e))
        sys.exit(2)
    try:
        boot, path = choose(flash)
    except (OSError, ValueError) as e:
        print("loader: %s/fw/boot.json unreadable: %r" % (flash, e))
        sys.exit(2)
    if boot is None:
        print("loader: no %s: flash the firmware into fw/a (gridlink provision flash)" % path)
        sys.exit(2)
    # what only the choice needed leaves the heap (the slot's firmware wants every byte:
    # the handheld runs at 192K); a crash on probation needs read_boot (_open), rollback
    # and reset only
    g = globals()
    for name in ("choose", "config_path"):
        g.pop(name, None)
    slot = flash + "/fw/" + boot["slot"]
    # only the slot (and a board's frozen modules): a file missing from the slot is an
    # ImportError (a rollback on probation), never an older copy from / or /lib
    sys.path[:] = [slot + "/lib", slot, ".frozen"]
    trial = boot.get("trial")
    info = {"root": flash, "slot": boot["slot"], "version": boot.get("version"), "trial": trial,
            "rolled_back": boot.get("rolled_back")}
    try:
        import main

        main.main(argv, boot=info)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - any crash of a slot on probation
        if not trial or isinstance(e, KeyboardInterrupt) or not _open(path, boot, trial):
            raise  # outside a trial, or the slot confirmed itself (or rolled back) meanwhile
        sys.print_exception(e) if hasattr(sys, "print_exception") else print(repr(e))
        rollback(path, boot, "crash: " + type(e).__name__)
        print("loader: slot %s crashed on probation: rolled back to %s"
              % (boot["slot"], trial["prev"]))
        reset()


if __name__ == "__main__":
    run(sys.argv)
