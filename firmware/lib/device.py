"""Runtime glue every device app shares: identity, signing, the outbox, uploads, commands.

Device(cfg, hal, root) owns
- the persistent State (seq, chain head, session, last cseq, upload progress, app keys),
- the flash Outbox (every envelope is put there first, then the seq / chain head is saved;
  the drain task publishes records in order over the Link with QoS 1 and removes a record
  once its envelope and every chunk of its media got a PUBACK; with cfg["trim_on"] ==
  "receipt" only once a verified hub receipt covers its seq, and after a reconnect or the hub
  state turning online it re-sends, in order, every record still held),
- media upload: envelope first, then chunk frames built in ONE preallocated buffer
  (44-byte header + CHUNK_SIZE payload read with readinto); progress (next chunk) is saved
  after every PUBACK'd chunk, so a restarted device sends only the chunks not acknowledged
  (at most the one chunk that was in flight is sent again),
- hub receipts on gl/v1/{dev}/rcpt (chunks listed missing are sent again while the file is
  still held), the retained hub state (flush only while the hub is online, when
  cfg["require_hub"]), the last will / retained birth with a persistent session counter,
- commands: gl/v1/{dev}/cmd through protocol.command.CommandGuard (last cseq persisted before
  the command runs), executed via the handler table, ALWAYS answered with a signed `ack`
  envelope (succeeded / failed / refused + reason),
- the heartbeat event.
Apps call `await device.emit(kind, body, media)` and register command handlers.
"""

import asyncio
import binascii
import gc
import os

import config as config_mod
import log as log_mod
import mqtt
import outbox as outbox_mod
import state as state_mod
from device_cmd import Commands
from device_upload import Uploader, rec_payload

from protocol import chunking, command, envelope, topics
from protocol.errors import ProtocolError
from protocol.limits import CHUNK_SIZE, GENESIS

VERSION = "0.1.0"
_log = log_mod.getLogger("device")

DEFAULTS = {
    "broker": {"host": "127.0.0.1", "port": 1883, "user": None, "password": None,
               "keepalive": 30},
    "require_hub": False,
    "trim_on": "puback",
    "heartbeat_s": 300,
    "outbox_bytes": 8 * 1024 * 1024,
    "chunk_size": CHUNK_SIZE,
    "keep_media": False,
    "cmd_queue": 8,
    "backoff_min_ms": 500,
    "backoff_max_ms": 30000,
}


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdir(path):
    if not _exists(path):
        os.mkdir(path)


class Device(Uploader, Commands):
    def __init__(self, cfg, hal, root=None, link_factory=None, client_factory=None):
        self.cfg = cfg
        self.hal = hal
        self.clock = hal.clock
        self.dev = cfg["device_id"]
        topics.validate_device_id(self.dev)
        self.seed = binascii.unhexlify(cfg["key"])
        self.hub_pk = binascii.unhexlify(cfg["hub_key"]) if cfg.get("hub_key") else None
        self.root = root or cfg.get("flash", "/flash")
        _mkdir(self.root)
        self.media_dir = self.root + "/media"
        _mkdir(self.media_dir)
        self.state = state_mod.State(self.root + "/state.json")
        self._check_overrides()
        self.outbox = outbox_mod.Outbox(self.root + "/outbox", self.opt("outbox_bytes"))
        self.chunk_size = self.opt("chunk_size")
        # the one upload buffer: frame header + chunk payload, allocated once
        self.buf = bytearray(chunking.HEADER_SIZE + self.chunk_size)
        self.mv = memoryview(self.buf)
        # emit() hashes new media through its own small buffer: the upload buffer may be in
        # the middle of a send (the MQTT writer yields between slices) when the app emits
        self.hbuf = bytearray(2048)
        self.fw = cfg.get("fw", VERSION)
        self.handlers = {"ping": self._cmd_ping, "config": self._cmd_config,
                         "reboot": self._cmd_reboot}
        self.cmdq = []
        self.resend = {}  # sha_hex -> [[missing indices], media path] from hub receipts
        self.dropped_cmds = 0
        self.chunks_sent = 0
        self.session = self.state.get("session", 0)
        self.hub_online = not self.opt("require_hub")
        # trim_on "receipt": a record stays in the outbox after its PUBACK until a verified hub
        # receipt covers its seq; sent_rid = the newest record sent since the last rewind
        # (reconnect, or the hub state turning online), which re-sends everything uncovered
        self.by_receipt = self.opt("trim_on") == "receipt"
        if self.by_receipt and self.hub_pk is None:
            raise ValueError("trim_on receipt needs hub_key")
        self.sent_rid = 0
        self._rewind = False
        self.hub_up = None  # the last hub state seen (None: none yet)
        self.hub_seq = self.state.get("hub_seq", 0)
        self._trim_seq = 0
        self.guard = command.CommandGuard(self.hub_pk or b"\0" * 32, self.dev,
                                          self.state.get("cseq", 0))
        self._wake = asyncio.Event()
        self._stop = False
        self.uploading = False
        self.heap_hwm = 0
        self._tasks = []
        self._reconcile()
        self._client_factory = client_factory or self._new_client
        if link_factory is None:
            import link as link_mod

            link_factory = link_mod.Link
        self.link = link_factory(self._client_factory, on_up=self._on_up,
                                 on_message=self._on_message,
                                 backoff_min_ms=self.opt("backoff_min_ms"),
                                 backoff_max_ms=self.opt("backoff_max_ms"))

    def _check_overrides(self):
        """Drop remote config overrides that fail config.check_remote (older firmware
        persisted them unchecked; a bad one would kill a runtime task on every boot)."""
        over = self.state.get("cfg", None)
        if not over:
            return
        good = {}
        for k in over:
            try:
                config_mod.check_remote(k, over[k])
                good[k] = over[k]
            except ValueError as e:
                _log.warning("dropped remote override: %s", e)
        if len(good) != len(over):
            self.state.set("cfg", good)
            self.state.save()

    def opt(self, key):
        over = self.state.get("cfg", None) or {}
        if key in over:
            return over[key]
        if key in self.cfg:
            return self.cfg[key]
        return DEFAULTS.get(key)

    # --- identity and the chain ---------------------------------------------------------------

    def _reconcile(self):
        """After power loss between outbox.put and the state save, adopt the newest envelope
        found in the outbox so the chain never forks."""
        seq = self.state.get("seq", 0)
        best = None
        for rec in self.outbox.iter():
            try:
                env = envelope.parse(rec_payload(rec))
            except ProtocolError:
                continue
            if env["seq"] > seq and (best is None or env["seq"] > best[0]):
                best = (env["seq"], envelope.digest(rec_payload(rec)))
        if best is not None:
            self.state.set("seq", best[0])
            self.state.set("prev", best[1])
            self.state.save()

    def seq(self):
        return self.state.get("seq", 0)

    async def emit(self, kind, body, media=(), extra=None):
        """Sign an event and put it in the outbox; `media` is a list of (path, mime) files
        already on flash (hashed in 2 KiB reads through self.hbuf, never the upload buffer,
        which the drain task may be sending from). `extra`: more state keys saved together
        with the new chain head. Returns the seq, or None when the outbox refused it."""
        blobs = []
        paths = []
        for path, mime in media:
            with open(path, "rb") as f:
                blobs.append(chunking.describe(f, mime, self.hbuf))
            paths.append(path)
        seq = self.state.get("seq", 0) + 1
        prev = self.state.get("prev", GENESIS)
        env = envelope.build(self.dev, seq, self.clock.time(), kind, body, blobs, prev)
        data = envelope.seal(env, self.seed)
        env = None
        topic = topics.ack(self.dev) if kind == "ack" else topics.evt(self.dev, kind)
        try:
            self.outbox.put(topic, data, media=paths or None)
        except outbox_mod.OutboxFullError:
            self.state.set("lost", self.state.get("lost", 0) + 1)
            if paths:  # nothing references them now: they would fill the flash for good
                for path in paths:
                    try:
                        os.remove(path)
                    except OSError:
                        pass
                self.state.set("media_lost", self.state.get("media_lost", 0) + len(paths))
            if extra:
                for k in extra:
                    self.state.set(k, extra[k])
            self.state.save()
            return None
        self.state.set("seq", seq)
        self.state.set("prev", envelope.digest(data))
        if extra:
            for k in extra:
                self.state.set(k, extra[k])
        self.state.save()
        self._wake.set()
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
            import ssl as ssl_mod

            ssl = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_CLIENT)
            if b.get("ca"):
                ssl.load_verify_locations(cafile=b["ca"])
            else:
                ssl.verify_mode = ssl_mod.CERT_NONE
        return mqtt.MQTTClient(self.dev, b.get("host", "127.0.0.1"), b.get("port", 1883),
                               user=b.get("user"), password=b.get("password"),
                               keepalive=b.get("keepalive", 30), ssl=ssl,
                               will=(topics.state(self.dev), will, 1, True), max_inflight=2)

    async def _on_up(self, client):
        for t in (topics.cmd(self.dev), topics.rcpt(self.dev)):
            await client.subscribe(t, 1)
        if self.opt("require_hub") or self.by_receipt:
            await client.subscribe(topics.HUB_STATE, 1)
        self._rewind = self.by_receipt
        birth = command.seal_state(self.dev, True, self.session, self.clock.time(), self.seed,
                                   fw=self.fw)
        await client.publish(topics.state(self.dev), birth, 1, True)
        self._wake.set()

    def _on_message(self, topic, payload):
        # called on the MQTT reader task: queue, never block
        if topic == topics.cmd(self.dev):
            if len(self.cmdq) >= self.opt("cmd_queue"):
                self.dropped_cmds += 1  # the hub retries unanswered commands
                return
            self.cmdq.append(bytes(payload))
        elif topic == topics.rcpt(self.dev):
            self._on_receipt(payload)
        elif topic == topics.HUB_STATE:
            try:
                msg = command.open_state(payload, self.hub_pk)
            except ProtocolError as e:
                _log.warning("hub state refused: %s", e)
                return
            online = bool(msg["online"]) and msg.get("dev") is None
            if online and self.hub_up is not True:
                self._rewind = self.by_receipt  # a (re)started hub: send what it lacks again
            self.hub_up = online
            if self.opt("require_hub"):
                self.hub_online = online
        self._wake.set()

    async def publish(self, topic, payload, qos=1, retain=False, keep=True):
        await self.link.publish(topic, payload, qos, retain, keep=keep)

    # --- the drain task -----------------------------------------------------------------------

    async def _drain(self):
        while not self._stop:
            if not self.link_up():
                # on_up runs before link.up is set, so wait for the link itself, not _wake
                await self.link.wait_up()
                continue
            if self.by_receipt:
                if self._rewind:
                    self._rewind = False
                    self.sent_rid = 0
                self._trim()
                rec = self.outbox.next_after(self.sent_rid)
            else:
                rec = self.outbox.peek()
            again = self._resend_ready()
            busy = rec is not None or again is not None
            if not busy or not self.hub_online:
                self._wake.clear()  # set by emit, receipts, hub state
                await self._wake.wait()
                continue
            try:
                if again is not None:
                    await self._resend_missing(again)
                else:
                    self.uploading = True
                    await self._send_record(rec)
                    self.uploading = False
            except OSError as e:
                _log.warning("link down while sending: %r", e)
                await asyncio.sleep_ms(100)

    def link_up(self):
        return self.link.is_up()

    # --- heartbeat and supervision ------------------------------------------------------------

    def heartbeat_body(self):
        free = None
        try:
            st = os.statvfs(self.root)
            free = st[0] * st[3]
        except (OSError, AttributeError):
            pass
        batt = self.hal.battery.level() if self.hal.battery else None
        return {"battery": batt, "storage_free": free, "outbox": len(self.outbox),
                "dropped": {"outbox": self.outbox.dropped, "cmds": self.dropped_cmds,
                            "lost": self.state.get("lost", 0),
                            "media_lost": self.state.get("media_lost", 0)},
                "fw": self.fw, "mem_free": gc.mem_free(), "session": self.session}

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
        return (len(self.outbox) == 0 and not self.uploading and not self.cmdq
                and self._resend_ready() is None)

    async def run(self, app=None):
        gc.collect()
        self._reboot = False
        tasks = [asyncio.create_task(self.link.run()), asyncio.create_task(self._drain()),
                 asyncio.create_task(self._commands())]
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
            for t in tasks:
                t.cancel()
            if self.link.is_up():
                try:  # a clean stop: retained offline state, then DISCONNECT (no will)
                    off = command.seal_state(self.dev, False, self.session, self.clock.time(),
                                             self.seed)
                    await self.link.publish(topics.state(self.dev), off, 1, True)
                    await self.link.shutdown()
                except OSError:
                    pass
            self.link.stop()

    def sample_heap(self):
        """Live-heap high-water: gc.mem_alloc() right after a collection (what the app really
        holds; mem_alloc before a collection also counts garbage and tends to the heap size)."""
        used = gc.mem_alloc()
        if used > self.heap_hwm:
            self.heap_hwm = used

    async def supervise(self):
        """One supervision cycle: note the heap high-water, collect garbage, report whether a
        reboot was asked."""
        for t in self._tasks:
            if t.done():
                await t  # re-raises what killed a runtime task: fail loudly, never hang
                raise RuntimeError("runtime task ended")
        gc.collect()
        self.sample_heap()
        return self._reboot


