"""The OTA records of a start where lib/ota.py does not fit the heap (device.py; a 192K
handheld): a job that can never run here is dropped and reported failed, a rollback record
reported and cleared, so the hub hears of both and the device keeps running. On probation
the MemoryError stands: the loader rolls the trial back."""

import gc
import sys

import log as log_mod
import state as state_mod
from compat import exists, remove

_log = log_mod.getLogger("ota")


def _report(d, t, state, reason):
    body = {"rollout": t.get("rollout"), "manifest": t.get("manifest"),
            "version": t.get("version"), "state": state, "reason": reason, "done": 0, "total": 0}
    try:
        d._emit("ota", body)
    except Exception as e:  # noqa: BLE001 - the record goes anyway: the start comes first
        _log.exc(e, "ota %s not reported", state)


def settle(d):
    d.ota = None
    for m in ("ota", "protocol.bundle", "otaless"):  # forgotten (this module once it returns)
        sys.modules.pop(m, None)
    p = sys.modules.get("protocol")
    if p is not None and hasattr(p, "bundle"):
        delattr(p, "bundle")
    if d.boot.get("trial"):
        raise MemoryError("no heap for lib/ota.py on probation")
    gc.collect()
    _log.warning("no heap for lib/ota.py: its records settled without it")
    fw = d.root + "/fw"
    path = fw + "/job.json"
    if exists(path):
        job = state_mod.State(path).as_dict()
        _log.error("the update %s dropped", job.get("version"))
        for p in (path + ".bak", path + ".tmp", path):  # the record first, stage/ stays
            remove(p)
        if job.get("manifest"):
            _report(d, job, "failed", "error: MemoryError")
    rec = state_mod.State(fw + "/boot.json")
    rb = rec.get("rolled_back")
    if rb:
        _report(d, rb, "rolled_back", str(rb.get("reason"))[:120])
        rec.set("rolled_back", None)
        rec.save()
