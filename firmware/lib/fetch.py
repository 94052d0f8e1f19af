"""Fetch: download -> verify -> swap of one accepted `ota` job (docs/firmware.md, "OTA").

Shared by the live update (lib/ota.py, run by Device next to the app) and the update mode
(lib/updater.py, a reboot into a minimal runtime). It needs no Device, only a host with

    host.root, host.dev, host.clock, host.link   # flash root, device id, clock, link.Link
    host.fw, host.boot, host.opt(key)            # running version, the loader's record, config

and `report`, an async callable given each `ota` event body in order (downloading ...,
verified, updating; failed with the reason): Device emits them, the updater keeps them in
state.json for the next boot's runtime.

    f = Fetch(host, report); on a gl/v1/{dev}/fw message: f.on_reply(payload)
    if await f.update(job): reset       # swapped: boot.json names the new slot on trial

The manifest is fetched first and its signature and compatibility checked before any file;
each file is staged as <path>.part (resumed from its length rounded down to a chunk), checked
against the manifest, then renamed. The swap removes the inactive slot, renames stage/ to it,
then rewrites boot.json (the one commit point).
"""

import asyncio
import binascii
import os
import time

import log as log_mod
import state as state_mod
from compat import exists, remove
from otacmd import end_job, makedirs, rmtree

from protocol import bundle, chunking, topics
from protocol.errors import ProtocolError

_log = log_mod.getLogger("fetch")
REPLY_TIMEOUT_S = 15  # one request's wait for its reply, then it is sent again


class Failed(Exception):
    """An update that stops here: reported as an `ota` "failed" event with `reason`."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Fetch:
    def __init__(self, host, report):
        self.h = host
        self.report = report
        self.fw = host.root + "/fw"
        self.stage = self.fw + "/stage"
        key = host.opt("ops_key")
        self.ops_pk = binascii.unhexlify(key) if key else None
        self.requests = 0  # fetch requests sent (tests count them)
        self._want = None  # (sha, index) the download waits for
        self._reply = None
        self._got = asyncio.Event()
        self.buf = None
        self.topic = topics.fwreq(host.dev)  # built once, not per request
        self._until = None  # ticks_ms the job's command expires at (set by update)

    def on_reply(self, payload):
        """A gl/v1/{dev}/fw message (on the MQTT reader task: never blocks)."""
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

    async def _event(self, job, state, reason=None, done=0, total=0):
        await self.report(
            bundle.event_body(
                job["rollout"], job["manifest"], job["version"], state, reason, done, total
            )
        )

    async def update(self, job):
        """Run job to its end: True when swapped (the caller resets), False when it failed
        (reported, the job dropped)."""
        # the command's expiry (wall clock, from the hub) turned into a tick deadline once:
        # a gate's time_sync that moves the clock mid-download does not expire the job
        left = job["exp"] - self.h.clock.time()
        self._until = time.ticks_add(time.ticks_ms(), int(max(0, min(left, 86400)) * 1000))
        try:
            await self._download(job)
            return True
        except Failed as e:
            reason = e.reason[:120]
        except bundle.BundleError as e:
            reason = e.reason
        except Exception as e:  # MemoryError, a flash error: reported, the job dropped
            _log.exc(e, "update %s failed", job["version"])
            reason = ("error: %s" % type(e).__name__)[:120]
        _log.warning("update %s failed: %s", job["version"], reason)
        await self.fail(job, reason)
        return False

    async def fail(self, job, reason):
        """Report job failed with reason, then drop it (stage/ and job.json)."""
        try:
            await self._event(job, "failed", reason)
        finally:
            end_job(self.fw)

    async def _download(self, job):
        h = self.h
        cs = job["cs"]
        if self.ops_pk is None:
            raise Failed("no_ops_key")
        if self.buf is None:
            self.buf = bytearray(512)
        other = "b" if h.boot["slot"] == "a" else "a"
        if not exists(self.stage):
            # a cut between the swap's rename and its commit: the slot holds the whole
            # stage. Only then (job.json says the swap started): an inactive slot that
            # merely matches (a build rolled back, left there) is downloaded again
            inactive = self.fw + "/" + other
            if job.get("swap") and self._holds(inactive, job["manifest"]):
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
        bundle.accept(m, h.opt("app"), h.opt("hw"), h.fw)
        if m["version"] != job["version"]:
            raise Failed(
                "download: manifest version %s, command said %s" % (m["version"], job["version"])
            )
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

    def _holds(self, slot, sha):
        # the slot's manifest hashed as a stream through buf (never read whole: 32 KB max)
        import hashlib

        h = hashlib.sha256()
        buf = self.buf
        mv = memoryview(buf)
        try:
            with open(slot + "/manifest.json", "rb") as f:
                while True:
                    n = f.readinto(buf)
                    if not n:
                        break
                    h.update(mv[:n])
        except OSError:
            return False
        return binascii.hexlify(h.digest()).decode() == sha

    def swap(self, job, other):
        """stage/ becomes the inactive slot, then boot.json names it (the commit point)."""
        h = self.h
        rec = state_mod.State(self.fw + "/boot.json")
        if rec.get("slot") != h.boot["slot"] or other == h.boot["slot"]:
            raise Failed("swap: boot.json no longer boots slot %s" % h.boot["slot"])
        if not job.get("swap"):  # before the rename: a cut after it resumes the swap
            job["swap"] = 1
            st = state_mod.State(self.fw + "/job.json")
            st.set("swap", 1)
            st.save()
        dst = self.fw + "/" + other
        rmtree(dst)
        os.rename(self.stage, dst)
        rec.set(
            "trial",
            {
                "prev": h.boot["slot"],
                "prev_version": h.fw,
                "rollout": job["rollout"],
                "manifest": job["manifest"],
                "boots": 0,
                "deadline_s": h.opt("ota_trial_s"),
            },
        )
        rec.set("slot", other)
        rec.set("version", job["version"])
        rec.set("rolled_back", None)
        rec.save()
        end_job(self.fw)

    async def _fetch(self, entry, path, cs, job):
        """Download one file to path (via path.part, resumed), checked against entry."""
        size = entry["size"]
        part = path + ".part"
        makedirs(path[: path.rfind("/")])
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
                    raise Failed(
                        "download: chunk %d of %s has %d bytes, want %d"
                        % (i, entry["path"], len(data), want)
                    )
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
        h = self.h
        link = h.link
        req = bundle.fetch_request(sha, i, cs)
        topic = self.topic
        while True:
            if time.ticks_diff(time.ticks_ms(), self._until) >= 0:
                raise Failed("download: expired at chunk %d" % i)
            if not link.is_up():
                await link.wait_up()
                continue
            self._want = (sha, i)
            self._reply = None
            self._got.clear()
            try:
                await link.publish(topic, req, 1)
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
