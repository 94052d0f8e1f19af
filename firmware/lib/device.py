"""Device: the runtime every device app shares. It owns

- the device identity (id, signing seed, hub public key) and the config (opt(): remote
  overrides in the state, then the config file, then config.DEFAULTS),
- State (seq, chain head, session, last cseq, app keys) and the flash Outbox: every envelope
  is put in the outbox first, then the seq / chain head is saved (emit()),
- the Link (MQTT client factory with TLS and the last will; on_up subscribes and publishes
  the retained birth with a persistent session counter; messages are routed to the two below),
- an Uploader (upload.py): drains the outbox, media chunks, upload progress, hub receipts and
  the retained hub state,
- a CommandRunner (commands.py): verified hub commands, always acked; the device registers
  ping / config / reboot, apps register theirs with device.on_command(op, handler),
- the heartbeat and the supervision cycle (gc, heap high-water, dead runtime tasks).

Apps call `await device.emit(kind, body, media)` and `device.on_command("task", handler)`.

Live and historical: the device is live while the link is up and (with require_hub) the
retained hub state says online (device.live()). emit() marks an envelope historical (the
signed `hist` flag) when the device is not live at emit time, unless told otherwise; an ack
is always live (it answers a command that just arrived). device.on_live(cb) calls cb(live) on
the runtime's live-watch task whenever live changes. device.status is a dict apps fill (e.g.
{"lists": 42}): the heartbeat body carries its keys, the birth carries status["lists"].
"""

import asyncio
import binascii
import gc
import os
import sys
import time

import config as config_mod
import keyed
import log as log_mod
import mqtt
import outbox as outbox_mod
import state as state_mod
from commands import CommandRunner
from compat import const, exists, remove
from upload import Uploader

from protocol import chunking, command, crypto, envelope, topics
from protocol.errors import MalformedError
from protocol.limits import GENESIS

_log = log_mod.getLogger("device")
_EMIT_TRIES = const(10)


def tls_context(b):
    """The TLS context of broker config b (tlsctx.context; mbedTLS reads DER only, docs/tls.md).
    tlsctx is compiled only by a device that uses TLS (the port's own `tls` module takes that
    name)."""
    import tlsctx

    return tlsctx.context(b)


def _forget(*names):
    # drop modules used only now and then: once nothing refers to them, the next collection
    # frees their bytecode (main.py drops its start-up-only modules the same way)
    for name in names:
        sys.modules.pop(name, None)
        pkg, _, attr = name.rpartition(".")
        if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
            delattr(sys.modules[pkg], attr)


class _Refused(Exception):
    # an `ota` command acked "failed" with this detail (commands.py)
    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


def _mkdir(path):
    if not exists(path):
        os.mkdir(path)


class Device:
    def __init__(self, cfg, hal, root=None, link_factory=None, client_factory=None,
                 upload_buf=None, tls=None, boot=None):
        self.cfg = cfg
        self.hal = hal
        self.clock = hal.clock
        self.dev = cfg["device_id"]
        topics.validate_device_id(self.dev)
        self.hub_pk = binascii.unhexlify(cfg["hub_key"]) if cfg.get("hub_key") else None
        self.root = root or cfg.get("flash", "/flash")
        _mkdir(self.root)
        self.media_dir = self.root + "/media"
        _mkdir(self.media_dir)
        self.state = state_mod.State(self.root + "/state.json")
        self.outbox = outbox_mod.Outbox(self.root + "/outbox", self.opt("outbox_bytes"))
        # emit() hashes new media through its own small buffer: the upload buffer may be in
        # the middle of a send (the MQTT writer yields between slices) when the app emits.
        # 512 B (littlefs reads it a block at a time anyway): the 2 KiB it was cost the 192K
        # handheld 1.5 KB of the ~10 KB a signature check needs to spare
        self.hbuf = bytearray(512)
        # the running version: the loader's boot record names it (the slot may have come
        # over the air); run straight from the repo (boot None) it is this tree's
        self.boot = boot
        self.fw = boot["version"] if boot and boot.get("version") else config_mod.VERSION
        self.hw = self.opt("hw")
        self.session = self.state.get("session", 0)
        self.heap_hwm = 0
        self._reboot = False
        self._handover = None  # (deadline, manifest): an accepted job, the reboot to come
        self._stop = False
        self._tasks = []
        self.status = {}  # app figures for the heartbeat ("lists" also goes in the birth)
        self._live = False  # as last told to the on_live callbacks
        self._live_cbs = []
        self._live_ev = asyncio.Event()  # set on a hub state, a connection made or closed
        # the broker's TLS context, made once at start: a bad certificate file is a start-up
        # error, and its ~4 KB (mbedTLS context, parsed certificates) come before the heap
        # fragments
        b = self.opt("broker")  # tls: main.py makes it first (see there)
        self._tls = tls or (tls_context(b) if b.get("tls") else None)
        if link_factory is None:
            import link as link_mod

            link_factory = link_mod.Link
        self.link = link_factory(client_factory or self._new_client, on_up=self._on_up,
                                 on_message=self._on_message,
                                 backoff_min_ms=self.opt("backoff_min_ms"),
                                 backoff_max_ms=self.opt("backoff_max_ms"))
        # the upload buffer (one 2 KiB block, handed in by launch.py) before the start-up work that
        # leaves garbage between live objects (_reconcile, the key): at 192K the handheld's
        # start failed when that work came first and fragmented the heap
        gc.collect()
        self.uploader = Uploader(self.dev, self.outbox, self.state,
                                 state_mod.Progress(self.root + "/upload"), self.link,
                                 hub_pk=self.hub_pk, chunk_size=self.opt("chunk_size"),
                                 keep_media=self.opt("keep_media"), trim_on=self.opt("trim_on"),
                                 require_hub=self.opt("require_hub"), buf=upload_buf)
        guard = command.CommandGuard(self.hub_pk or b"\0" * 32, self.dev,
                                     self.state.get("cseq", 0))
        self.commands = CommandRunner(guard, self.state, self.clock, self.emit,
                                      self.opt("cmd_queue"))
        self.on_command("ping", self._cmd_ping)
        self.on_command("config", self._cmd_config)
        self.on_command("reboot", self._cmd_reboot)
        self.on_command("rotate_key", self._cmd_rotate_key)
        # lib/ota.py is loaded only while an accepted update is under way (_ota), then
        # forgotten; lib/fetch.py and protocol/bundle.py (the download) only for a live
        # update; a trial boot holds none of them (docs/firmware.md, "OTA")
        self.ota = None
        self.fw_listener = None  # on_reply(payload) of every gl/v1/{dev}/fw message (an app's)
        self._ota_task = None
        self._trial = None  # (seq of "updated", ticks_ms, ms allowed): lib/trial.py
        self.on_command("ota", self._cmd_ota)
        # start-up-only work in its own module, forgotten once run (its bytecode would
        # otherwise stay in the heap): the chain head a power cut left behind, bad overrides,
        # then (signing needs the key) what the update mode or a rollback left to report and
        # a trial's "updated", all before the app takes its heap
        import startup

        try:
            startup.reconcile(self)
            startup.check_overrides(self)
            # <flash>/key (made here at first boot when the config has no key) wins over cfg
            # key. identity is loaded here, after the upload buffer took its contiguous
            # block, and forgotten once used: its bytecode is not kept for a rare rotate_key
            import identity

            try:
                self._use_key(identity.load(self.root, cfg.get("key")))
                identity.publish(self.root, self.pub_hex)
                identity.finish(self)  # a rotation a power cut interrupted
            finally:
                _forget("identity")
            if boot is not None:
                self._trial = startup.ota(self, boot)
        finally:
            _forget("startup", "trial", "otacmd")
        if boot is not None and exists(self.root + "/fw/job.json"):
            try:
                self._ota()
            except MemoryError:  # the records never stop a start: lib/otaless.py
                import otaless

                otaless.settle(self)

    def on_command(self, op, handler):
        """Answer hub commands with this op: `await handler(cmd)` returns the ack's detail (an
        exception acks "failed"). ValueError if op already has a handler."""
        self.commands.on(op, handler)

    def live(self):
        """True while the link is up and (with require_hub) the hub state says online."""
        return self.uploader.live()

    def on_live(self, callback):
        """Call callback(live) whenever live() changes (not for the state at registration:
        the runtime starts not live). Called on the live-watch task: it must not block; an
        exception from it ends that task, which supervise() then reports."""
        self._live_cbs.append(callback)

    def opt(self, key):
        over = self.state.get("cfg", None) or {}
        if key in over:
            return over[key]
        if key in self.cfg:
            return self.cfg[key]
        return config_mod.DEFAULTS.get(key)

    # --- identity and the chain ---------------------------------------------------------------

    def _use_key(self, seed):
        self.seed = seed
        keyed.install(seed)  # the public key once, not in every signature
        self.pub_hex = binascii.hexlify(crypto.public_key(seed)).decode()

    async def emit(self, kind, body, media=(), extra=None, hist=None):
        # a signature needs ~10 KB of transient heap (pure-Python Ed25519), which a 192K
        # handheld lacks now and then in a burst: tried again after a collection, only while
        # nothing of it was stored (_emit allocates before the outbox write)
        for _ in range(_EMIT_TRIES):
            was = (self.state.get("seq", 0), self.state.get("lost", 0))
            try:
                return self._emit(kind, body, media, extra, hist)
            except MemoryError:
                if (self.state.get("seq", 0), self.state.get("lost", 0)) != was:
                    raise  # stored after all: never a second envelope for it
                gc.collect()
                await asyncio.sleep_ms(200)
        return self._emit(kind, body, media, extra, hist)

    def _emit(self, kind, body, media=(), extra=None, hist=None):
        """Sign an event and put it in the outbox; `media` is a list of (path, mime) files
        already on flash (hashed in 512 B reads through self.hbuf, never the upload buffer,
        which the drain task may be sending from). `extra`: more state keys saved together
        with the new chain head. `hist`: True / False marks the envelope historical or live;
        None (the default) marks it historical when the device is not live now, except an
        ack, which is always live. Returns the seq, or None when the outbox refused it."""
        if hist is None:
            hist = kind != "ack" and not self.uploader.live()
        blobs = []
        paths = []
        for path, mime in media:
            with open(path, "rb") as f:
                blobs.append(chunking.describe(f, mime, self.hbuf))
            paths.append(path)
        seq = self.state.get("seq", 0) + 1
        prev = self.state.get("prev", GENESIS)
        env = envelope.build(self.dev, seq, self.clock.time(), kind, body, blobs, prev, hist)
        data = envelope.seal(env, self.seed)
        env = None
        # everything that allocates comes before the outbox write: a MemoryError up to here
        # leaves no trace, so the caller may emit again (commands.py retries an ack)
        head = envelope.digest(data)
        topic = topics.ack(self.dev) if kind == "ack" else topics.evt(self.dev, kind)
        try:
            self.outbox.put(topic, data, media=paths or None)
        except outbox_mod.OutboxFullError:
            self.state.set("lost", self.state.get("lost", 0) + 1)
            if paths:  # nothing references them now: they would fill the flash for good
                for path in paths:
                    remove(path)
                self.state.set("media_lost", self.state.get("media_lost", 0) + len(paths))
            if extra:
                for k in extra:
                    self.state.set(k, extra[k])
            self.state.save()
            return None
        self.state.set("seq", seq)
        self.state.set("prev", head)
        if extra:
            for k in extra:
                self.state.set(k, extra[k])
        self.state.save()
        self.uploader.wake()
        return seq

    # --- link ---------------------------------------------------------------------------------

    def _new_client(self):
        b = self.opt("broker")
        self.session = self.state.get("session", 0) + 1
        self.state.set("session", self.session)
        self.state.save()
        will = command.seal_state(self.dev, False, self.session, self.clock.time(), self.seed)
        ssl = None
        if b.get("tls"):
            ssl = self._tls  # one context for every connection (tls_context below)
        return mqtt.MQTTClient(self.dev, b.get("host", "127.0.0.1"), b.get("port", 1883),
                               user=b.get("user"), password=b.get("password"),
                               keepalive=b.get("keepalive", 30), ssl=ssl,
                               will=(topics.state(self.dev), will, 1, True), max_inflight=2)

    async def _on_up(self, client):
        up = self.uploader
        for t in (topics.cmd(self.dev), topics.rcpt(self.dev)):
            await client.subscribe(t, 1)
        if self.boot is not None or self.fw_listener:  # firmware updates, or pulled blobs
            try:
                await client.subscribe(topics.fw(self.dev), 1)
            except mqtt.MQTTError as e:  # a broker ACL from before OTA: run without it
                _log.warning("firmware channel refused by the broker: %r", e)
        if up.require_hub or up.by_receipt:
            await client.subscribe(topics.HUB_STATE, 1)
        now = self.clock.time()
        seq = self.state.get("seq", 0)  # announced: the hub's revocation watermark uses it
        try:
            birth = command.seal_state(self.dev, True, self.session, now, self.seed, fw=self.fw,
                                       lists=self.status.get("lists"), seq=seq, hw=self.hw)
        except MalformedError as e:  # an app bug must not keep the device off the link
            _log.error("birth without lists: %s", e)
            birth = command.seal_state(self.dev, True, self.session, now, self.seed, fw=self.fw,
                                       seq=seq, hw=self.hw)
        await client.publish(topics.state(self.dev), birth, 1, True)
        up.on_link_up()
        asyncio.create_task(self._watch_close(client))
        self._live_ev.set()

    def _on_message(self, topic, payload):
        # called on the MQTT reader task: hand over, never block
        if topic == topics.cmd(self.dev):
            self.commands.push(payload)
        elif topic == topics.rcpt(self.dev):
            self.uploader.on_receipt(payload)
        elif topic == topics.fw(self.dev):
            if self.ota is not None:
                self.ota.on_reply(payload)
            if self.fw_listener is not None:
                self.fw_listener.on_reply(payload)
        elif topic == topics.HUB_STATE:
            self.uploader.on_hub_state(payload)
            self._live_ev.set()

    # --- live / not live ----------------------------------------------------------------------

    async def _watch_close(self, client):
        # one per connection: wakes the live watch when this connection closes
        await client.wait_closed()
        self._live_ev.set()

    async def _watch_live(self):
        ev = self._live_ev
        while True:
            live = self.uploader.live()
            if live != self._live:
                self._live = live
                for cb in self._live_cbs:
                    cb(live)
            ev.clear()
            if self.link.is_up():
                await ev.wait()  # a hub state, or this connection closing
            else:
                await self.link.wait_up()  # set after on_up (birth sent, subscriptions made)

    # --- heartbeat and supervision ------------------------------------------------------------

    def heartbeat_body(self):
        free = None
        try:
            st = os.statvfs(self.root)
            free = st[0] * st[3]
        except (OSError, AttributeError):
            pass
        batt = self.hal.battery.level() if self.hal.battery else None
        body = dict(self.status)  # the app's figures; the runtime's own keys below win
        body.update({"battery": batt, "storage_free": free, "outbox": len(self.outbox),
                     "dropped": {"outbox": self.outbox.dropped, "cmds": self.commands.dropped,
                                 "lost": self.state.get("lost", 0),
                                 "media_lost": self.state.get("media_lost", 0)},
                     "fw": self.fw, "mem_free": gc.mem_free(), "session": self.session})
        return body

    async def _heartbeat(self):
        while not self._stop:
            period = self.opt("heartbeat_s")
            if not period:  # 0 = off (a config command may turn it on again)
                await asyncio.sleep(60)
                continue
            await self.emit("heartbeat", self.heartbeat_body())
            await asyncio.sleep(period)

    def idle(self):
        """Nothing left to send (outbox empty, no upload, no command pending)."""
        return (self.uploader.idle() and self.commands.idle()
                and (self.ota is None or self.ota.idle()) and self._trial is None)

    async def run(self, app=None):
        gc.collect()
        self._reboot = False
        tasks = [asyncio.create_task(self.link.run()), asyncio.create_task(self.uploader.run()),
                 asyncio.create_task(self.commands.run()),
                 asyncio.create_task(self._watch_live())]
        if self.ota is not None:
            self._ota_task = asyncio.create_task(self._run_ota())
        if self.opt("heartbeat_s"):
            tasks.append(asyncio.create_task(self._heartbeat()))
        self._tasks = tasks
        try:
            if app is not None:
                return await app.run()
            else:
                while True:
                    await asyncio.sleep(3600)
        finally:
            self._stop = True
            self.uploader.stop()
            for t in tasks:
                t.cancel()
            if self.link.is_up():
                try:  # a clean stop: retained offline state, then DISCONNECT (no will)
                    off = command.seal_state(self.dev, False, self.session, self.clock.time(),
                                             self.seed)
                    await self.link.publish(topics.state(self.dev), off, 1, True)
                    await self.link.shutdown()
                except (OSError, MemoryError) as e:  # never in place of what ended the run
                    _log.warning("no clean stop: %r", e)
            self.link.stop()

    async def supervise(self):
        """One supervision cycle: note the heap high-water, collect garbage, report whether a
        reboot was asked."""
        for t in self._tasks:
            if t.done():
                await t  # re-raises what killed a runtime task: fail loudly, never hang
                raise RuntimeError("runtime task ended")
        t = self._trial  # the hub's receipt covers "updated", or the time is up
        if t and (self.uploader.hub_seq >= t[0] or time.ticks_diff(time.ticks_ms(), t[1]) >= t[2]):
            try:
                import trial

                trial.end(self, t)  # committed, or rolled back (a reset due)
                self._trial = None
            except MemoryError:  # no heap for it this cycle: the next one tries again
                pass
            finally:
                _forget("trial")
        h = self._handover  # the update mode: reboot once the outbox (the ack) is empty
        if h and (not len(self.outbox) or time.ticks_diff(time.ticks_ms(), h[0]) >= 0):
            self._reboot = True
        gc.collect()
        # live-heap high-water: gc.mem_alloc() right after a collection (what the app really
        # holds; mem_alloc before a collection also counts garbage and tends to the heap size)
        used = gc.mem_alloc()
        if used > self.heap_hwm:
            self.heap_hwm = used
        return self._reboot

    # --- built-in commands --------------------------------------------------------------------

    async def _cmd_ping(self, cmd):
        return "pong"

    async def _cmd_config(self, cmd):
        args = cmd["args"]
        if type(args) is not dict:
            raise ValueError("config: want args as an object")
        # all or nothing, checked like config.load(): a bad value persisted here would be
        # read by the runtime tasks on every boot (acked "failed" naming the key)
        for k in args:
            config_mod.check_remote(k, args[k])
        over = dict(self.state.get("cfg", None) or {})
        over.update(args)
        self.state.set("cfg", over)
        self.state.save()
        return "applied"

    async def _cmd_reboot(self, cmd):
        self._reboot = True
        return "rebooting"

    # --- firmware updates (lib/ota.py; docs/firmware.md, "OTA") --------------------------------

    def _ota(self):
        if self.ota is None:
            gc.collect()
            from ota import Ota

            self.ota = Ota(self, self.boot)
        return self.ota

    def _ota_accept(self, a, exp):
        # the update mode's acceptance, with no module to load: a module first loaded here
        # interns its names for good (~3.4 KB measured for lib/otacmd.py), which the 192K
        # handheld's signature of the ack no longer fitted beside. The job is saved, then
        # supervise() reboots once the ack has left; lib/updater.py checks the args in full
        # (protocol/bundle.py) and fails a job they do not pass "malformed"
        h = self._handover
        try:
            v = [int(x) for x in a["version"].split(".")]
            why = None if sorted(a) == ["manifest", "rollout", "size", "version"] else "malformed"
        except (AttributeError, KeyError, TypeError, ValueError):
            why = "malformed"
        why = why or ("no_loader" if self.boot is None else
                      "no_ops_key" if not self.opt("ops_key") else
                      "busy" if self._trial or self._reboot or h and h[1] != a["manifest"] else
                      None if h else
                      "not_newer" if v <= [int(x) for x in self.fw.split(".")] else None)
        if why:
            raise _Refused(why)
        if h is None:
            st = state_mod.State(self.root + "/fw/job.json")
            st.update(a)
            st.set("cs", self.opt("ota_chunk"))  # fixed for the job: .part lengths assume it
            st.set("exp", exp)
            st.save()
            self._handover = (time.ticks_add(time.ticks_ms(), 10000), a["manifest"])
        return "accepted"

    async def _run_ota(self):
        try:
            await self.ota.run()  # returns once no update is left
        except Exception as e:  # noqa: BLE001 - never a silent death (no probation here:
            _log.exc(e, "ota")  # lib/trial.py raises from supervise(), the loader rolls back)
        finally:
            self.ota = self._ota_task = None
            _forget("ota", "fetch", "protocol.bundle")

    async def _cmd_ota(self, cmd):
        # ota_mode: config_load sets it by app; unset (a config not loaded) is live
        if self.ota is None and self.opt("ota_mode") == "reboot":
            return self._ota_accept(cmd["args"], cmd["exp"])
        try:
            return await self._ota().on_command(cmd)
        finally:
            if self.ota is None:  # a MemoryError importing it
                _forget("ota", "fetch", "protocol.bundle")
            elif self._ota_task is None:  # run the job, or forget the module again
                self._ota_task = asyncio.create_task(self._run_ota())

    # --- key rotation (docs/firmware.md, "Identity and key rotation") -------------------------

    async def _cmd_rotate_key(self, cmd):
        """identity.rotate: the new key staged, announced by the old one, then committed."""
        # identity is compiled again for the command (~7.5 KB allocated, ~4 KB of it parse
        # and compile garbage; measured at 192K in tests/firmware/test_rotation.py), then
        # forgotten; a MemoryError here acks "failed" and changes nothing
        gc.collect()
        import identity

        try:
            return identity.rotate(self)
        finally:
            _forget("identity")
