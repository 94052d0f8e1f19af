"""otacmd: the `ota` command's acceptance (docs/firmware.md, "OTA"), small enough to load
apart from lib/ota.py: the args checked (the rules of protocol/bundle.py check_command_args,
without its ~11 KB), the job saved to <root>/fw/job.json. Used by lib/ota.py (the live mode,
the gates); the handheld's update mode accepts in device.py (Device._ota_accept: no module
loaded next to its app at 192K) and lib/updater.py checks the args in full.

    job = accept(device, cmd, job, trial, boot)   # Refusal(detail) acks "failed" detail
"""

import os

import state as state_mod
from compat import exists, remove

_NAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


class Refusal(Exception):
    """An `ota` command acked "failed" with `detail` (commands.py)."""

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


def mode(opt):
    """ "reboot" (the update mode) or "live"; unset: reboot for the handheld (config_load)."""
    return "reboot" if opt("ota_mode") == "reboot" else "live"


def _version(s):
    # bundle.parse_version: (major, minor, patch) of "M.m.p", ValueError otherwise
    p = s.split(".") if type(s) is str and 5 <= len(s) <= 20 else ()
    if len(p) != 3:
        raise ValueError("version")
    for x in p:
        if not 0 < len(x) <= 5 or (len(x) > 1 and x[0] == "0") or x.strip("0123456789"):
            raise ValueError("version")
    return (int(p[0]), int(p[1]), int(p[2]))


def newer(a, b):
    return _version(a) > _version(b)


def check_args(a):
    """bundle.check_command_args, ValueError for what it refuses (tests/firmware/test_ota.py
    holds the two to the same answers)."""
    if type(a) is not dict or sorted(a) != ["manifest", "rollout", "size", "version"]:
        raise ValueError("keys")
    r, m, n = a["rollout"], a["manifest"], a["size"]
    if type(r) is not str or not 1 <= len(r) <= 64 or [c for c in r if c not in _NAME]:
        raise ValueError("rollout")
    if type(m) is not str or len(m) != 64 or [c for c in m if c not in "0123456789abcdef"]:
        raise ValueError("manifest")
    if type(n) is not int or not 2 <= n <= 32768:
        raise ValueError("size")
    _version(a["version"])


def _isdir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def rmtree(path):
    """Remove a file or a directory tree (missing is fine)."""
    if not _isdir(path):
        remove(path)
        return
    for name in os.listdir(path):
        rmtree(path + "/" + name)
    os.rmdir(path)


def makedirs(path):
    i = 0
    while i >= 0:
        i = path.find("/", i + 1)
        p = path if i < 0 else path[:i]
        if p and not exists(p):
            os.mkdir(p)


def end_job(fw):
    """Drop the job under fw (<root>/fw): job.json (its .bak and .tmp first: State would load
    them back), then stage/ (a cut in between leaves no job to resume, only stage/ to clear)."""
    p = fw + "/job.json"
    remove(p + ".bak")
    remove(p + ".tmp")
    remove(p)
    rmtree(fw + "/stage")


def accept(d, cmd, job, trial, boot):
    """The job for `ota` command cmd on device d: the running job when it is the same
    manifest, else a new one saved to job.json. Refusal: malformed, no_loader, no_ops_key,
    busy (another manifest, or this firmware on probation), not_newer."""
    args = cmd["args"]
    try:
        check_args(args)
    except ValueError:
        raise Refusal("malformed")
    if boot is None:
        raise Refusal("no_loader")  # run straight from the repo: no slots to swap
    if not d.opt("ops_key"):
        raise Refusal("no_ops_key")
    if job is not None:
        if job["manifest"] == args["manifest"]:
            return job
        raise Refusal("busy")
    if trial:
        raise Refusal("busy")
    if not newer(args["version"], d.fw):
        raise Refusal("not_newer")
    job = dict(args)
    job["cs"] = d.opt("ota_chunk")  # fixed for the job: .part lengths assume it
    job["exp"] = cmd["exp"]
    fw = d.root + "/fw"
    rmtree(fw + "/stage")  # what an earlier, failed download left
    makedirs(fw)
    st = state_mod.State(fw + "/job.json")
    st.update(job)
    st.save()
    return job
