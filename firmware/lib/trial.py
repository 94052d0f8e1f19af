"""The probation of a new firmware (docs/firmware.md, "OTA"), in place of lib/ota.py (which a
192K handheld cannot hold next to its app on a trial boot). Device imports it twice and
forgets it each time, so nothing of it stays resident while the trial runs:

    t = trial.start(device)     # Device.__init__: "updated" emitted; None if not on trial
    trial.end(device, t)        # supervise(), once the hub's receipt covers it or time is up

t = (seq of "updated", ticks_ms at start, ms allowed). "updated" is signed at start, before
the app takes its share of the heap. The trial commits (boot.json trial = None) once a
verified hub receipt covers that event, or rolls back after trial.deadline_s, counted on
the tick counter: a gate's time_sync rewrites the wall clock, and a jump forward must not
roll a good build back as no_report.
"""

import time

import log as log_mod
import state as state_mod
from compat import exists

_log = log_mod.getLogger("ota")
NO_SEQ = 1 << 30  # the outbox refused "updated": no receipt confirms it, the deadline decides


def _open(d):
    # boot.json and its trial, while it is still this boot's (the slot Device was booted from)
    rec = state_mod.State(d.root + "/fw/boot.json")
    t = rec.get("trial")
    return (rec, t) if t and rec.get("slot") == d.boot["slot"] else (rec, None)


def start(d):
    """Emit "updated" for this trial boot; its (seq, t0, limit_ms), or None when boot.json
    holds no open trial for this slot (a swap or rollback waits for its reset). A job.json
    left on a trial boot is the one the swap committed (no `ota` is accepted on probation):
    dropped."""
    rec, t = _open(d)
    if t is None:
        return None
    fw = d.root + "/fw"
    if exists(fw + "/job.json"):
        from otacmd import end_job

        end_job(fw)
    body = {"rollout": t.get("rollout"), "manifest": t.get("manifest"), "version": d.fw,
            "state": "updated", "reason": None, "done": 0, "total": 0}
    seq = d._emit("ota", body)
    limit = t.get("deadline_s") or d.opt("ota_trial_s")
    return (NO_SEQ if seq is None else seq, time.ticks_ms(), limit * 1000)


def end(d, t):
    """Commit when the hub's receipt covers "updated", else roll back (boot.json names the
    previous slot, rolled_back "no_report", a reset due)."""
    rec, cur = _open(d)
    if cur is None:
        return  # not this boot's trial any more
    if d.uploader.hub_seq >= t[0]:
        rec.set("trial", None)
        rec.save()  # the commit: this firmware boots from now on
        _log.info("firmware %s confirmed, heap hwm=%d", d.fw, d.heap_hwm)  # the trial's
        return
    _log.error("firmware %s not confirmed in %ds: rolling back", d.fw, t[2] // 1000)
    rec.set("rolled_back", {"rollout": cur.get("rollout"), "manifest": cur.get("manifest"),
                            "version": d.fw, "reason": "no_report"})
    rec.set("slot", cur["prev"])
    rec.set("version", cur["prev_version"])
    rec.set("trial", None)
    rec.save()
    d._reboot = True  # reset at the next supervision cycle
