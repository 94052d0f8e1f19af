"""Ota: signed firmware updates on the device (docs/firmware.md, "OTA"; protocol/bundle.py).

    ota = Ota(device, boot)        # boot: what the loader passed to main.main (None: no loader)
    device.on_command("ota", ota.on_command); asyncio.create_task(ota.run())
    ota.on_reply(payload)          # gl/v1/{dev}/fw, from the MQTT reader task

Flash under <root>/fw: boot.json (the loader's record: slot, version, trial, rolled_back),
a/ and b/ (slots), stage/ (the download in progress), job.json (the accepted command, so a
reboot resumes). This module is what the runtime holds while an update is under way: the
command and the live download's reports. The download itself is lib/fetch.py, run here next to
the app (cfg ota_mode "live", the gates) or by lib/updater.py after a reboot into the update
mode (ota_mode "reboot", the handheld: its 192K heap does not hold the app and the download
together). The update mode leaves its `ota` event bodies in state.json ("ota_report"); the
next boot's runtime emits them first, each removed in the same save as its chain head.
The new firmware's probation is lib/trial.py (a trial boot does not load this module).
protocol/bundle.py (~11 KB of bytecode) is imported only by fetch.py: the command's args are
checked here by the same rules (check_args), the reports build their bodies from values
checked when they were made.
"""

import time

import log as log_mod
import state as state_mod
from compat import exists, remove

_log = log_mod.getLogger("ota")
HANDOVER_S = 10  # update mode: the longest wait for the reports to leave, then reboot


def _drop_job(fw):
    # the job.json of a job that ended (.bak and .tmp first: State would load them back);
    # its stage/ went into a slot at the swap, else it is what otacmd.end_job removes
    if exists(fw + "/stage"):
        from otacmd import end_job

        end_job(fw)
        return
    for p in (".bak", ".tmp", ""):
        remove(fw + "/job.json" + p)


def _newer(a, b):
    from otacmd import newer

    return newer(a, b)


class Ota:
    def __init__(self, device, boot):
        self.d = device
        self.boot = boot
        self.fw = device.root + "/fw"
        self.job_path = self.fw + "/job.json"
        self.rec = state_mod.State(self.fw + "/boot.json") if boot is not None else None
        # the trial counts only while boot.json still boots this firmware's slot: after a
        # swap or a no_report rollback (a reset pending) it is not this firmware's to run
        self.mine = self.rec is not None and self.rec.get("slot") == boot["slot"]
        self.trial = self.rec.get("trial") if self.mine else None
        self.mode = "reboot" if device.opt("ota_mode") == "reboot" else "live"
        self.job = None
        if boot is not None and exists(self.job_path):
            self.job = state_mod.State(self.job_path).as_dict() or None
        self.fetch = None  # the live download (fetch.Fetch) while one runs

    def idle(self):
        """No download under way and no probation waiting for its confirmation."""
        return self.job is None and not self.trial

    # --- called on the MQTT reader task (never block) -----------------------------------------

    def on_reply(self, payload):
        if self.fetch is not None:
            self.fetch.on_reply(payload)

    # --- the command ------------------------------------------------------------------------

    async def on_command(self, cmd):
        from otacmd import accept  # the acceptance: the live mode's, or a job after a report

        # busy while a swap or a rollback waits for its reset (boot.json boots another slot)
        pending = self.d._reboot or not self.mine
        self.job = accept(self.d, cmd, self.job, self.trial or pending, self.boot)
        return "accepted"

    # --- the task ---------------------------------------------------------------------------

    async def run(self):
        """The accepted job (live: downloaded here; reboot: handed to the update mode);
        returns when none is left (Device then forgets this module)."""
        if not self.mine:
            return  # boot.json names the other slot: the reset is pending (it reports)
        await self._start()
        while self.job is not None:
            if self.mode == "reboot":
                # the update mode: Device.supervise reboots into lib/updater.py once the
                # reports left (or after HANDOVER_S)
                d = self.d
                d._handover = (time.ticks_add(time.ticks_ms(), HANDOVER_S * 1000),
                               self.job["manifest"])
                return
            await self._live(self.job)

    async def _live(self, job):
        from fetch import Fetch

        self.fetch = Fetch(self.d, self._report)
        try:
            if await self.fetch.update(job):
                self.d._reboot = True  # swapped: reset at the next supervision cycle
        finally:
            self.fetch = None
            self.job = None

    async def _report(self, b):
        await self.d.emit("ota", b)

    async def _start(self):
        d = self.d
        job = self.job
        rb = self.boot.get("rolled_back") if self.boot else None  # Device reported it
        if job is not None:
            # a job the swap committed (or that was rolled back) before job.json went
            gone = [t.get("manifest") for t in (self.trial, rb) if t]
            if job["manifest"] in gone or not _newer(job["version"], d.fw):
                _drop_job(self.fw)
                self.job = None
