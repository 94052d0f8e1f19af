"""Ota: signed firmware updates on the device (docs/firmware.md, "OTA"; protocol/bundle.py).

    ota = Ota(device, boot)        # boot: what the loader passed to main.main (None: no loader)
    device.on_command("ota", ota.on_command); asyncio.create_task(ota.run())
    ota.on_reply(payload)          # gl/v1/{dev}/fw, from the MQTT reader task
    ota.on_receipt()               # after every hub receipt (the trial's confirmation)

Flash under <root>/fw: boot.json (the loader's record: slot, version, trial, rolled_back),
a/ and b/ (slots), stage/ (the download in progress), job.json (the accepted command, so a
reboot resumes). Download -> verify -> swap: the manifest is fetched first and its signature
and compatibility checked before any file; each file is staged as <path>.part (resumed from
its length rounded down to a chunk), checked against the manifest, then renamed. The swap
removes the inactive slot, renames stage/ to it, then rewrites boot.json (the one commit
point) and resets. The new firmware runs on probation: it reports "updated" and commits
(trial = None) once a verified hub receipt covers that event, or rolls back by itself after
trial.deadline_s.
"""

import asyncio
import binascii
import os

import log as log_mod
import state as state_mod
from compat import exists, remove

from protocol import bundle, chunking, topics
from protocol.errors import ProtocolError

_log = log_mod.getLogger("ota")
REPLY_TIMEOUT_S = 15  # one request's wait for its reply, then it is sent again


class Refusal(Exception):
    """An `ota` command acked "failed" with `detail` (commands.py)."""

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


class Failed(Exception):
    """An update that stops here: reported as an `ota` "failed" event with `reason`."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


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


def _drop_record(path):
    # a State file gone for good: .bak and .tmp first (State would load them back)
    remove(path + ".bak")
    remove(path + ".tmp")
    remove(path)


def _newer(a, b):
    return bundle.parse_version(a) > bundle.parse_version(b)


class Ota:
    def __init__(self, device, boot):
        self.d = device
        self.boot = boot
        self.fw = device.root + "/fw"
        self.stage = self.fw + "/stage"
        self.job_path = self.fw + "/job.json"
        self.rec = state_mod.State(self.fw + "/boot.json") if boot is not None else None
        # the trial counts only while boot.json still boots this firmware's slot: after a
        # swap or a no_report rollback (a reset pending) it is not this firmware's to run
        self.mine = self.rec is not None and self.rec.get("slot") == boot["slot"]
        self.trial = self.rec.get("trial") if self.mine else None
        key = device.opt("ops_key")
        self.ops_pk = binascii.unhexlify(key) if key else None
        self.job = None
        if boot is not None and exists(self.job_path):
            self.job = state_mod.State(self.job_path).as_dict() or None
        self.requests = 0  # fetch requests sent (tests count them)
        self._want = None  # (sha, index) the download waits for
        self._reply = None
        self._got = asyncio.Event()
        self._rcpt = asyncio.Event()
        self._confirm_seq = None
        self.buf = None

    def idle(self):
        """No download under way and no probation waiting for its confirmation."""
        return self.job is None and not self.trial

    # --- called on the MQTT reader task (never block) -----------------------------------------

    def on_reply(self, payload):
        if self._want is None:
            return
        try:
            sha, i, total, data = bundle.parse_fetch_reply(payload)
        except bundle.BundleError as e:  # the hub will not serve it
            if (e.sha, e.i) != self._want:
                return  # a refusal of another request (an earlier job's, a resend's)
            self._reply = e
            self._got.set()
            return
        except ProtocolError as e:
            _log.warning("firmware reply dropped: %s", e)
            return
        if (sha, i) != self._want:
            return  # a late answer to a request sent again
        self._reply = (total, data)
        self._got.set()

    def on_receipt(self):
        self._rcpt.set()

    # --- the command ------------------------------------------------------------------------

    async def on_command(self, cmd):
        args = cmd["args"]
        try:
            bundle.check_command_args(args)
        except ProtocolError:
            raise Refusal("malformed")
        if self.boot is None:
            raise Refusal("no_loader")  # run straight from the repo: no slots to swap
        if self.ops_pk is None:
            raise Refusal("no_ops_key")
        if self.d._reboot or not self.mine:
            raise Refusal("busy")  # a swap or a rollback waits for its reset
        job = self.job
        if job is not None:
            if job["manifest"] == args["manifest"]:
                return "accepted"
            raise Refusal("busy")
        if self.trial:
            raise Refusal("busy")  # this firmware is itself still on probation
        if not _newer(args["version"], self.d.fw):
            raise Refusal("not_newer")
        job = dict(args)
        job["cs"] = self.d.opt("ota_chunk")  # fixed for the job: .part lengths assume it
        job["exp"] = cmd["exp"]
        rmtree(self.stage)  # what an earlier, failed download left
        makedirs(self.fw)
        st = state_mod.State(self.job_path)
        st.update(job)
        st.save()
        self.job = job
        return "accepted"

    # --- the task ---------------------------------------------------------------------------

    async def run(self):
        """The rollback report, the probation, then the accepted job; returns when none is
        left (Device then forgets this module)."""
        if not self.mine:
            return  # boot.json names the other slot: the reset is pending (it reports)
        await self._start()
        if self.trial:
            await self._probation(self.trial)
        while self.job is not None:
            await self._update(self.job)

    async def _start(self):
        rec = self.rec
        if rec is None:
            return
        rb = rec.get("rolled_back")
        job = self.job
        if job is not None:
            # a job the swap committed (or that was rolled back) before job.json went
            gone = [t.get("manifest") for t in (self.trial, rb) if t]
            if job["manifest"] in gone or not _newer(job["version"], self.d.fw):
                self._end_job()
        if rb:
            try:
                await self._event(rb, "rolled_back", str(rb.get("reason"))[:120])
            except ProtocolError as e:
                _log.warning("rollback record not reported: %s", e)
            rec.set("rolled_back", None)
            rec.save()

    async def _event(self, t, state, reason=None, done=0, total=0):
        body = bundle.event_body(t["rollout"], t["manifest"], t["version"], state, reason, done,
                                 total)
        return await self.d.emit("ota", body)

    async def _probation(self, t):
        """Report "updated", commit on the hub's receipt, or roll back at the deadline."""
        d = self.d
        ev = {"rollout": t.get("rollout"), "manifest": t.get("manifest"), "version": d.fw}
        seq = await self._event(ev, "updated")
        deadline = d.clock.time() + t.get("deadline_s", d.opt("ota_trial_s"))
        while True:
            if seq is not None and d.uploader.hub_seq >= seq:
                self.rec.set("trial", None)
                self.rec.save()  # the commit: this firmware boots from now on
                self.trial = None
                _log.info("firmware %s confirmed", d.fw)
                return
            left = deadline - d.clock.time()
            if left <= 0:
                break
            self._rcpt.clear()
            try:
                await asyncio.wait_for(self._rcpt.wait(), min(left, 5))
            except asyncio.TimeoutError:
                pass
        _log.error("firmware %s not confirmed in %ds: rolling back", d.fw, t.get("deadline_s"))
        rec = self.rec
        rec.set("rolled_back", {"rollout": t.get("rollout"), "manifest": t.get("manifest"),
                                "version": d.fw, "reason": "no_report"})
        rec.set("slot", t["prev"])
        rec.set("version", t["prev_version"])
        rec.set("trial", None)
        rec.save()
        d._reboot = True  # reset at the next supervision cycle

    async def _update(self, job):
        try:
            await self._download(job)
        except Failed as e:
            _log.warning("update %s failed: %s", job["version"], e.reason)
            self._end_job()  # first: an emit that raises leaves no job behind
            await self._event(job, "failed", e.reason[:120])
        except bundle.BundleError as e:
            _log.warning("update %s refused: %s", job["version"], e)
            self._end_job()
            await self._event(job, "failed", e.reason)
        except Exception as e:  # MemoryError, a flash error: reported, the job dropped
            _log.exc(e, "update %s failed", job["version"])
            self._end_job()
            await self._event(job, "failed", ("error: %s" % type(e).__name__)[:120])

    def _end_job(self):
        _drop_record(self.job_path)  # first: a cut before rmtree leaves no job to resume
        self.job = None
        rmtree(self.stage)

    async def _download(self, job):
        d = self.d
        cs = job["cs"]
        if self.buf is None:
            self.buf = bytearray(512)
        other = "b" if self.boot["slot"] == "a" else "a"
        if not exists(self.stage):
            # a cut between the swap's rename and its commit: the slot holds the whole stage
            inactive = self.fw + "/" + other
            if self._holds(inactive, job["manifest"]):
                os.rename(inactive, self.stage)
            else:
                makedirs(self.stage)
        mpath = self.stage + "/manifest.json"
        if not exists(mpath):
            entry = {"path": "manifest.json", "sha256": job["manifest"], "size": job["size"]}
            await self._fetch(entry, mpath, cs, job)
        with open(mpath, "rb") as f:
            data = f.read()
        m = bundle.open(data, self.ops_pk)
        data = None
        bundle.accept(m, d.opt("app"), d.opt("hw"), d.fw)
        if m["version"] != job["version"]:
            raise Failed("download: manifest version %s, command said %s"
                         % (m["version"], job["version"]))
        files = m["files"]
        m = None
        total = 0
        done = 0
        for e in files:
            total += e["size"]
            if exists(self.stage + "/" + e["path"]):
                done += e["size"]
        await self._event(job, "downloading", None, done, total)
        step = total // 4 + 1
        mark = done + step
        for e in files:
            path = self.stage + "/" + e["path"]
            if not exists(path):
                await self._fetch(e, path, cs, job)
                done += e["size"]
                if done >= mark and done < total:
                    await self._event(job, "downloading", None, done, total)
                    mark = done + step
        files = None
        await self._event(job, "verified", None, total, total)
        await self._event(job, "updating", None, total, total)
        self.swap(job, other)
        d._reboot = True  # reset at the next supervision cycle

    def _holds(self, slot, sha):
        try:
            with open(slot + "/manifest.json", "rb") as f:
                return bundle.digest(f.read()) == sha
        except OSError:
            return False

    def swap(self, job, other):
        """stage/ becomes the inactive slot, then boot.json names it (the commit point)."""
        if not self.mine or other == self.boot["slot"]:
            raise Failed("swap: boot.json no longer boots slot %s" % self.boot["slot"])
        dst = self.fw + "/" + other
        rmtree(dst)
        os.rename(self.stage, dst)
        rec = self.rec
        rec.set("trial", {"prev": self.boot["slot"], "prev_version": self.d.fw,
                          "rollout": job["rollout"], "manifest": job["manifest"], "boots": 0,
                          "deadline_s": self.d.opt("ota_trial_s")})
        rec.set("slot", other)
        rec.set("version", job["version"])
        rec.set("rolled_back", None)
        rec.save()
        _drop_record(self.job_path)
        self.job = None

    async def _fetch(self, entry, path, cs, job):
        """Download one file to path (via path.part, resumed), checked against entry."""
        size = entry["size"]
        part = path + ".part"
        slash = path.rfind("/")
        makedirs(path[:slash])
        have = os.stat(part)[6] if exists(part) else 0
        if have > size:
            remove(part)
            have = 0
        n = chunking.chunk_count(size, cs)
        f = open(part, "r+b" if have else "wb")
        try:
            for i in range(have // cs, n):
                data = await self._request(entry["sha256"], i, cs, n, job)
                want = size - i * cs if i == n - 1 else cs
                if len(data) != want:
                    raise Failed("download: chunk %d of %s has %d bytes, want %d"
                                 % (i, entry["path"], len(data), want))
                f.seek(i * cs)
                f.write(data)
                data = None
                f.flush()  # littlefs: committed, a reboot resumes after this chunk
        finally:
            f.close()
        with open(part, "rb") as f:
            bundle.check_file(f, entry, self.buf)  # BundleError("bad_file")
        os.rename(part, path)

    async def _request(self, sha, i, cs, n, job):
        d = self.d
        req = bundle.fetch_request(sha, i, cs)
        topic = topics.fwreq(d.dev)
        while True:
            if d.clock.time() > job["exp"]:
                raise Failed("download: expired at chunk %d" % i)
            if not d.link.is_up():
                await d.link.wait_up()
                continue
            self._want = (sha, i)
            self._reply = None
            self._got.clear()
            try:
                await d.link.publish(topic, req, 1)
                self.requests += 1
                await asyncio.wait_for(self._got.wait(), REPLY_TIMEOUT_S)
            except asyncio.TimeoutError:
                _log.warning("no reply for chunk %d of %s: asking again", i, sha[:12])
                continue
            except OSError:
                await asyncio.sleep(1)
                continue
            finally:
                self._want = None
            r = self._reply
            self._reply = None
            if isinstance(r, bundle.BundleError):
                raise Failed("download: " + r.reason[4:])  # "hub_not_offered" -> not_offered
            if r[0] != n:
                raise Failed("download: hub says %d chunks, want %d" % (r[0], n))
            return r[1]
