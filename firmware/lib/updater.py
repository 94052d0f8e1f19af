"""The update mode (cfg ota_mode "reboot"; docs/firmware.md, "OTA"): the download of an
accepted `ota` job with nothing else in the heap, the bootloader-style OTA of a small device.

main.py runs it instead of Device and the app when the loader booted a confirmed slot and
<flash>/fw/job.json holds a job:   updater.main(cfg, boot); then main.py resets.

It holds the config, one MQTT connection with the device's credentials and TLS (the same
client id, clean session: the device's persistent session is not resumed, so no command is
delivered here and acked unanswered; the broker drops what it had queued and the hub's
dispatcher sends unanswered commands again once the device's birth says online), the
subscription to gl/v1/{dev}/fw only, and lib/fetch.py. It publishes fwreq requests, nothing
else: no birth (the hub sees the device offline meanwhile), no events (no outbox, no key).
The `ota` event bodies fetch.py reports are appended to state.json "ota_report"; the next
boot's runtime emits them in order (lib/ota.py), so the hub sees the sequence of a live
update. Bounded by cfg ota_mode_timeout_s: then "failed" "download: timeout" and the job is
dropped. A power cut leaves the job in place: the next boot resumes the download.
"""

import asyncio
import gc

import log as log_mod
import mqtt
import state as state_mod
from config import DEFAULTS
from fetch import Fetch
from link import Link

from protocol import topics

_log = log_mod.getLogger("updater")


class Updater:
    """The host fetch.Fetch runs on here (what it reads of Device, nothing more)."""

    def __init__(self, cfg, boot, tls=None):
        from hal.clock import Clock

        self.cfg = cfg
        self.boot = boot
        self.root = boot["root"]
        self.dev = cfg["device_id"]
        self.fw = boot["version"]
        self.clock = Clock(cfg.get("clock_offset_s", 0))
        self.state = state_mod.State(self.root + "/state.json")
        self.tls = tls
        self.heap_hwm = 0
        self.fetch = Fetch(self, self.report)
        self.link = Link(
            self._client,
            on_up=self._on_up,
            on_message=self._on_message,
            backoff_min_ms=self.opt("backoff_min_ms"),
            backoff_max_ms=self.opt("backoff_max_ms"),
            clean_session=True,
        )

    def opt(self, key):
        if key in self.cfg:
            return self.cfg[key]
        return DEFAULTS.get(key)

    def _client(self):
        b = self.opt("broker")
        return mqtt.MQTTClient(
            self.dev,
            b.get("host", "127.0.0.1"),
            b.get("port", 1883),
            user=b.get("user"),
            password=b.get("password"),
            keepalive=b.get("keepalive", 30),
            ssl=self.tls,
            max_inflight=2,
        )

    async def _on_up(self, client):
        await client.subscribe(topics.fw(self.dev), 1)

    def _on_message(self, topic, payload):
        if topic == topics.fw(self.dev):
            self.fetch.on_reply(payload)

    async def report(self, body):
        """Keep an `ota` event body for the next boot's runtime (lib/ota.py emits it)."""
        st = self.state
        rep = st.get("ota_report") or []
        if rep and body["state"] == rep[-1]["state"] == "downloading":
            rep = rep[:-1]  # the latest progress only: the state is read into the 192K heap
        st.set("ota_report", rep + [body])
        st.save()

    async def _watch_heap(self):
        while True:
            gc.collect()
            used = gc.mem_alloc()
            if used > self.heap_hwm:
                self.heap_hwm = used
            await asyncio.sleep(0.5)

    async def run(self, job):
        """Download, verify and swap job (True: swapped, reset into the trial) or fail it."""
        from otacmd import rmtree

        from protocol.bundle import check_command_args
        from protocol.errors import ProtocolError

        args = {k: job.get(k) for k in ("manifest", "rollout", "size", "version")}
        try:
            check_command_args(args)  # device.py accepted it with a shape check only
        except ProtocolError as e:
            _log.warning("update: job refused: %s", e)
            await self.fetch.fail(job, "malformed")
            return False
        if not job.get("started"):  # the first run of this job: what an earlier one left
            rmtree(self.fetch.stage)
            st = state_mod.State(self.fetch.fw + "/job.json")
            st.set("started", 1)
            st.save()
        tasks = [asyncio.create_task(self.link.run()), asyncio.create_task(self._watch_heap())]
        limit = self.opt("ota_mode_timeout_s")
        try:
            return await asyncio.wait_for(self.fetch.update(job), limit)
        except asyncio.TimeoutError:
            _log.warning("update %s: no download in %ds", job["version"], limit)
            await self.fetch.fail(job, "download: timeout")
            return False
        finally:
            for t in tasks:
                t.cancel()
            if self.link.is_up():
                try:
                    await self.link.shutdown()  # DISCONNECT: the clean session ends here
                except OSError:
                    pass
            self.link.stop()


def main(cfg, boot):
    """main.py's update mode: the broker's TLS context first (mbedTLS wants 3 KB in one
    piece), garbage collected early (gc.threshold: the manifest check wants 6 KB runs),
    then run()."""
    b = cfg["broker"]
    tls = None
    if b.get("tls"):
        import tlsctx

        tls = tlsctx.context(b)
    if cfg.get("gc_threshold", 4096):
        gc.threshold(cfg.get("gc_threshold", 4096))
    gc.collect()
    run(cfg, boot, tls)


def run(cfg, boot, tls=None):
    """The update mode's whole run; returns when main.py should reset. A job that cannot
    even start (a corrupt job.json, MemoryError) is dropped, never retried at every boot."""
    from otacmd import end_job

    fw = boot["root"] + "/fw"
    u = None
    try:
        job = state_mod.State(fw + "/job.json").as_dict()
        u = Updater(cfg, boot, tls)
        _log.info(
            "update %s: update mode, %d s at most", job.get("version"), u.opt("ota_mode_timeout_s")
        )
        ok = asyncio.run(u.run(job))
        _log.info("update %s %s", job.get("version"), "swapped" if ok else "failed")
    except Exception as e:  # noqa: BLE001 - the running firmware must come back
        _log.exc(e, "update mode failed")
        end_job(fw)
        if u is not None:
            try:
                asyncio.run(u.fetch.fail(job, ("error: %s" % type(e).__name__)[:120]))
            except Exception:  # noqa: BLE001 - a job record too broken to report
                pass
    gc.collect()
    _log.info("updater heap hwm=%d free=%d", u.heap_hwm if u else -1, gc.mem_free())
