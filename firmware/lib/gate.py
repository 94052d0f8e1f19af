"""Gate: the core the access, face and barrier apps share (docs/access.md).

    gate = Gate(device, hal, cfg, relay=hal.lock, position=hal.door)
    await gate.run()           # what the app's run() returns

Reads arrive from the HAL inputs as synchronous callbacks (a board's interrupt handler
through micropython.schedule, the simulator's scenario player): each is decided at once from
the cached lists (acl.Lists + decide.Decider), the relay moves, and only then is the event
built, its capture photo taken and the event queued in the Batcher, whose own task signs one
`access` envelope per batch. Nothing on the decision path waits for the network, the flash
outbox or a signature. `lat_ms` of an event is credential read -> relay command
(time.ticks_us); the last LAT_KEEP figures stay in a preallocated array for the bench.

Door state: mode (normal / always_open / always_locked) persisted in the device state
("modes"); the fail-open override (a door with fail "open" goes always-open after
fail_open_after_s without the link, back when it returns) is not persisted: at boot the
persisted mode holds.
"""

import array
import asyncio
import hashlib
import time

import acl
import decide
import log as log_mod
from batch import Batcher
from compat import const

_log = log_mod.getLogger("gate")

MODES = ("normal", "always_open", "always_locked")
LAT_KEEP = const(1024)
_TICK_MS = const(100)
_STRANGERS = const(32)  # unknown faces tracked at once (oldest forgotten first)
_CRED_MAX = const(64)
_HWM_EVERY = const(100)  # log the heap high-water every this many reads


def pin_digest(pin):
    """What a list's `pins` / `duress` hold: sha256("pin:<pin>") hex."""
    return hashlib.sha256(b"pin:" + pin.encode()).digest().hex()


class Door:
    def __init__(self, d, mode):
        self.id = d["id"]
        self.dir = d.get("dir", "in")
        self.fail = d.get("fail", "secure")
        self.open_ms = d.get("open_ms", 3000)
        self.held_s = d.get("held_open_s", 30)
        self.mode = mode  # persisted
        self.fail_open = False  # the link-loss override of a fail-open door
        self.until = None  # ticks_ms when the relay locks again (None: not pulsed)
        self.grants = 0  # passages the current grant still allows
        self.entry = None  # the entry of that grant (anti-passback)
        self.granted = False  # this open cycle had a grant (a second passage is tailgating)
        self.free = False  # exit button / remote open: passages are not counted
        self.opened = None  # ticks_ms the door opened, None while closed
        self.held = False  # door_held raised for this open cycle
        self.tailgated = False

    def effective(self):
        return "always_open" if self.fail_open else self.mode


class Gate:
    kind = "access"
    watch_door = True  # door_forced / door_held from the position sensor (not on a loop)

    def __init__(self, device, hal, cfg, relay, position, lists=None, decider=None):
        self.device = device
        self.hal = hal
        self.clock = hal.clock
        self.relay = relay
        self.position = position
        self.community = cfg.get("community", "")
        opt = device.opt
        st = device.state
        modes = st.get("modes", None) or {}
        self.doors = {}
        self.order = []
        for d in cfg.get("doors") or [{"id": "d1"}]:
            door = Door(d, modes.get(d["id"], "normal"))
            self.doors[door.id] = door
            self.order.append(door.id)
        off = st.get("clock_offset_s", None)
        if off is not None:
            self.clock.offset_s = off
        root = device.root
        self.lists = lists or acl.Lists(root + "/acl")
        self.decider = decider or decide.Decider(
            self.lists,
            cfg.get("doors") or [{"id": "d1"}],
            self.clock,
            root + "/passback",
            tz_offset_s=_get(opt, "tz_offset_s", 28800),
            face_threshold=_get(opt, "face_threshold", 80),
            plate_threshold=_get(opt, "plate_threshold", 85),
        )
        self.capture_bytes = _get(opt, "capture_bytes", 12000)
        self.stranger_repeat = _get(opt, "stranger_repeat", 3)
        self.stranger_window_ms = _get(opt, "stranger_window_s", 600) * 1000
        self.storage_pct = _get(opt, "storage_alarm_pct", 80)
        self.fail_open_after_ms = _get(opt, "fail_open_after_s", 60) * 1000
        self.outbox_bytes = opt("outbox_bytes")
        self.batch = Batcher(
            self._emit,
            root + "/batch.jsonl",
            _get(opt, "batch_events", 8),
            _get(opt, "batch_s", 5),
            st,
        )
        self._hist_kw = hasattr(device, "live")  # the runtime marks historical envelopes
        self.strangers = {}  # track -> [count, first ticks_ms]
        self.storage_low = False
        self.down_since = None
        self.hist = not self._live()
        self.lat = array.array("I", bytes(4 * LAT_KEEP))
        self.nlat = 0
        self.done = False
        self._status()
        # the relay of every door as its mode says (a reboot keeps always-open open)
        for door in self.doors.values():
            self.relay.set(door.id, door.effective() == "always_open")
        self._wire()
        device.on_command("open", self._cmd_open)
        device.on_command("door_mode", self._cmd_door_mode)
        device.on_command("list_sync", self._cmd_list_sync)
        device.on_command("time_sync", self._cmd_time_sync)

    def _wire(self):
        h = self.hal
        self.position.on_change(self.on_change)
        self.position.on_pass(self.on_pass)
        if h.card is not None:
            h.card.on_read(self.on_card)
        if h.keypad is not None:
            h.keypad.on_read(self.on_pin)
        if h.exit is not None:
            h.exit.on_read(self.on_exit)
        if h.tamper is not None:
            h.tamper.on_read(self.on_tamper)
        if h.help is not None:
            h.help.on_read(self.on_help)

    # --- the runtime around us -----------------------------------------------------------

    def _live(self):
        d = self.device
        if hasattr(d, "live"):
            return d.live()
        return d.link.is_up() and d.uploader.hub_online

    def _status(self):
        st = getattr(self.device, "status", None)
        if isinstance(st, dict):
            st["lists"] = self.lists.version

    async def _emit(self, events, media, hist, extra):
        body = {"community": self.community, "events": events}
        if self._hist_kw:
            return await self.device.emit("access", body, media, extra=extra, hist=hist)
        return await self.device.emit("access", body, media, extra=extra)

    def _ts(self, ev):
        # capture time: Unix seconds and the milliseconds within them
        t = time.time_ns() // 1000000 if hasattr(time, "time_ns") else int(time.time()) * 1000
        ev["ts"] = t // 1000 + self.clock.offset_s
        ev["ms"] = t % 1000
        return ev

    def _door(self, door):
        d = self.doors.get(door)
        if d is None:
            raise ValueError("no door %r" % door)
        return d

    # --- the decision path ---------------------------------------------------------------

    def _open(self, d, ms, grants=1, free=False):
        self.relay.set(d.id, True)
        d.until = time.ticks_add(time.ticks_ms(), ms)
        if free:
            d.free = True
        else:
            d.grants = grants
            d.granted = True

    def _lat(self, t0):
        us = time.ticks_diff(time.ticks_us(), t0)
        self.lat[self.nlat % LAT_KEEP] = us
        self.nlat += 1
        return (us + 500) // 1000

    def decide(self, door, by, value, score=None, t0=None):
        """Decide a read and move the relay; returns (event, entry) with lat_ms set."""
        if t0 is None:
            t0 = time.ticks_us()
        d = self._door(door)
        mode = d.effective()
        if mode == "always_locked":
            ev, reason, entry = "denied", "locked", None
        else:
            ev, reason, entry = self.decider.check(door, by, value, score)
        if ev == "granted":
            if mode == "normal":
                self._open(d, d.open_ms)
            d.entry = entry
        lat = self._lat(t0)
        e = {"ev": ev, "door": door, "dir": d.dir, "by": by, "lat_ms": lat}
        if reason:
            e["reason"] = reason
        if entry is not None:
            p = entry.get("id") if entry.get("t") == "person" else entry.get("person")
            if p:
                e["person"] = p
        return self._ts(e), entry

    def _record(self, e, entry, media=None):
        hist = self.hist
        self.batch.add(e, media, hist)
        if e.get("reason") == "blacklist":
            a = {"ev": "blacklist_hit", "door": e["door"], "by": e["by"]}
            for k in ("person", "cred", "plate"):
                if k in e:
                    a[k] = e[k]
            self.alarm(a)
        if entry is not None and entry.get("_duress"):
            self.alarm({"ev": "duress", "door": e["door"], "person": e.get("person")})

    def alarm(self, a):
        """Queue an alarm event; it closes the batch at once."""
        self._ts(a)
        _log.warning("alarm %s %s", a["ev"], a.get("door", ""))
        self.batch.add(a, None, self.hist, close=True)

    def on_card(self, door, cred, value):
        t0 = time.ticks_us()
        e, entry = self.decide(door, cred, value, None, t0)
        e["cred"] = value[:_CRED_MAX]
        e["blob"] = None
        self._record(e, entry)

    def on_pin(self, door, pin):
        t0 = time.ticks_us()
        e, entry = self.decide(door, "pin", pin_digest(pin), None, t0)
        e["blob"] = None
        self._record(e, entry)

    def _capture(self):
        cam = self.hal.camera
        if cam is None:
            return None
        path = "%s/c%07d.jpg" % (self.device.media_dir, self.batch.seq_n + 1)
        path, _, mime = cam.capture(path, self.capture_bytes)
        return path, mime

    def on_face(self, door, template, score, track):
        t0 = time.ticks_us()
        if template is None:
            d = self._door(door)
            e = self._ts(
                {
                    "ev": "denied",
                    "door": door,
                    "dir": d.dir,
                    "by": "face",
                    "reason": "locked" if d.effective() == "always_locked" else "unknown",
                    "score": score,
                    "lat_ms": self._lat(t0),
                }
            )
            entry = None
        else:
            e, entry = self.decide(door, "face", template, score, t0)
            e["score"] = score
            e["template"] = template
        self._record(e, entry, self._capture())
        if template is None and track is not None:
            self._stranger(door, track)

    def on_plate(self, door, plate, color, conf):
        t0 = time.ticks_us()
        e, entry = self.decide(door, "plate", plate, conf, t0)
        e["plate"] = plate[:_CRED_MAX]
        e["color"] = color
        e["conf"] = conf
        self._record(e, entry, self._capture())

    def on_exit(self, door):
        t0 = time.ticks_us()
        d = self._door(door)
        if d.effective() == "always_locked":
            e = {"ev": "denied", "door": door, "dir": "out", "by": "button", "reason": "locked"}
        else:
            self._open(d, d.open_ms, free=True)
            e = {"ev": "granted", "door": door, "dir": "out", "by": "button"}
        e["lat_ms"] = self._lat(t0)
        e["blob"] = None
        self._record(self._ts(e), None)

    def on_tamper(self, door=None):
        self.alarm({"ev": "tamper", "door": door})

    def on_help(self, door=None):
        self.alarm({"ev": "help", "door": door})

    def _stranger(self, door, track):
        now = time.ticks_ms()
        s = self.strangers.get(track)
        if s is None or time.ticks_diff(now, s[1]) > self.stranger_window_ms:
            if s is None and len(self.strangers) >= _STRANGERS:
                old = None
                for k in self.strangers:
                    if (
                        old is None
                        or time.ticks_diff(self.strangers[k][1], self.strangers[old][1]) < 0
                    ):
                        old = k
                del self.strangers[old]
            s = self.strangers[track] = [0, now]
        s[0] += 1
        if s[0] >= self.stranger_repeat:
            self.alarm(
                {
                    "ev": "stranger_repeated",
                    "door": door,
                    "track": str(track),
                    "count": s[0],
                    "window_s": self.stranger_window_ms // 1000,
                }
            )
            del self.strangers[track]

    # --- door position and passages ------------------------------------------------------

    def on_change(self, door, is_open):
        d = self.doors.get(door)
        if d is None:
            return
        if not self.watch_door:
            return
        if is_open:
            d.opened = time.ticks_ms()
            d.held = False
            if not (self.relay.released(door) or d.free or d.effective() == "always_open"):
                self.alarm({"ev": "door_forced", "door": door})
        else:
            d.opened = None
            self._end_cycle(d)

    def _end_cycle(self, d):
        d.grants = 0
        d.granted = False
        d.free = False
        d.tailgated = False
        d.entry = None
        if d.until is not None and d.effective() == "normal":
            self.relay.set(d.id, False)  # relock once the door shut
            d.until = None

    def on_pass(self, door):
        d = self.doors.get(door)
        if d is None:
            return
        if d.grants > 0:
            d.grants -= 1
            if d.entry is not None:
                self.decider.passed(door, d.entry)
            if not self.watch_door and d.effective() == "normal":
                self.relay.set(door, False)  # the vehicle cleared the loop: lower the arm
                d.until = None
                d.granted = False
        elif d.granted and not d.free and not d.tailgated:
            d.tailgated = True
            self.alarm({"ev": "tailgating", "door": door, "person": _pid(d.entry)})

    # --- the supervision tick ------------------------------------------------------------

    def tick(self):
        now = time.ticks_ms()
        for d in self.doors.values():
            if d.until is not None and time.ticks_diff(now, d.until) >= 0:
                d.until = None
                if d.effective() == "normal":
                    self.relay.set(d.id, False)
                if d.opened is None:
                    d.grants = 0
                    d.granted = False
                    d.free = False
            if (
                d.opened is not None
                and not d.held
                and d.effective() == "normal"
                and time.ticks_diff(now, d.opened) > d.held_s * 1000
            ):
                d.held = True
                self.alarm({"ev": "door_held", "door": d.id, "s": d.held_s})
        up = self.device.link.is_up()
        if up:
            self.down_since = None
        elif self.down_since is None:
            self.down_since = now
        for d in self.doors.values():
            if d.fail != "open":
                continue
            if (
                not d.fail_open
                and not up
                and time.ticks_diff(now, self.down_since) >= self.fail_open_after_ms
            ):
                d.fail_open = True
                self.relay.set(d.id, True)
                self._mode_event(d, "fail_open")
            elif d.fail_open and up:
                d.fail_open = False
                self.relay.set(d.id, d.mode == "always_open")
                self._mode_event(d, "link_back")
        hist = not self._live()
        if hist != self.hist:
            self.hist = hist
            self.batch.set_hist(hist)
        if self.outbox_bytes:
            pct = self.device.outbox.bytes_used * 100 // self.outbox_bytes
            if not self.storage_low and pct >= self.storage_pct:
                self.storage_low = True
                self.alarm({"ev": "storage_low", "pct": pct})
            elif self.storage_low and pct < self.storage_pct - 5:
                self.storage_low = False

    def _mode_event(self, d, cause):
        self.alarm({"ev": "mode", "door": d.id, "mode": d.effective(), "cause": cause})

    def latency_us(self):
        """The kept lat figures (microseconds), sorted."""
        n = min(self.nlat, LAT_KEEP)
        return sorted(self.lat[i] for i in range(n))

    def latency_report(self):
        v = self.latency_us()
        if not v:
            return "lat n=0"
        return "lat n=%d p50_us=%d p99_us=%d max_us=%d" % (
            len(v),
            v[len(v) // 2],
            v[min(len(v) - 1, len(v) * 99 // 100)],
            v[-1],
        )

    # --- commands ------------------------------------------------------------------------

    async def _cmd_open(self, cmd):
        a = cmd["args"]
        door = a.get("door") or self.order[0]
        d = self._door(door)
        ms = a.get("ms", d.open_ms)
        if not isinstance(ms, int) or isinstance(ms, bool) or not 100 <= ms <= 60000:
            raise ValueError("open: ms wants an integer in 100..60000")
        t0 = time.ticks_us()
        self._open(d, ms, free=True)
        e = {
            "ev": "granted",
            "door": door,
            "dir": d.dir,
            "by": "remote",
            "lat_ms": self._lat(t0),
            "blob": None,
            "cmd": cmd.get("id"),
        }
        self.batch.add(self._ts(e), None, self.hist)
        return "opened %s" % door

    async def _cmd_door_mode(self, cmd):
        a = cmd["args"]
        d = self._door(a.get("door"))
        mode = a.get("mode")
        if mode not in MODES:
            raise ValueError("door_mode: mode one of %s" % ", ".join(MODES))
        d.mode = mode
        modes = dict(self.device.state.get("modes", None) or {})
        modes[d.id] = mode
        self.device.state.set("modes", modes)
        self.device.state.save()
        if not d.fail_open:
            self.relay.set(d.id, mode == "always_open")
            d.until = None
        self._mode_event(d, "command")
        return "mode %s %s" % (d.id, mode)

    async def _cmd_list_sync(self, cmd):
        # the commit yields to the event loop between bucket rewrites: reads keep being
        # decided (from the version in force) while a big sync is applied
        res = await self.lists.sync_async(cmd["args"])  # SyncError: acked with its detail
        if res.startswith("applied"):
            face = self.hal.face
            if face is not None:
                for t in self.lists.removed_faces:
                    face.delete(t)
            self._status()
        return res

    async def _cmd_time_sync(self, cmd):
        ts = cmd["args"].get("ts")
        if not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0:
            raise ValueError("time_sync: ts wants Unix seconds")
        off = self.clock.offset_s + ts - self.clock.time()
        self.clock.offset_s = off
        self.device.state.set("clock_offset_s", off)
        self.device.state.save()
        return "offset %d" % off

    # --- the main loop -------------------------------------------------------------------

    async def run(self):
        inputs = self.hal.inputs
        if inputs is not None:
            mark = self.batch.mark()
            if mark is not None and hasattr(inputs, "pos"):
                inputs.pos = mark  # resume a scenario after a restart
            self.batch.marker = lambda: inputs.pos
        tasks = [asyncio.create_task(self.batch.run())]
        feed = asyncio.create_task(inputs.run()) if inputs is not None else None
        exit_when_done = self.device.opt("exit_when_done")
        n = 0
        hwm_at = _HWM_EVERY
        try:
            while True:
                await asyncio.sleep_ms(_TICK_MS)
                self.tick()
                for t in tasks:
                    if t.done():
                        await t  # re-raise what killed it
                if feed is not None and feed.done():
                    await feed
                    feed = None
                    self.done = True
                n += 1
                if n % 5 == 0:
                    if await self.device.supervise():
                        return "reboot"
                    if self.nlat >= hwm_at:
                        # the live-heap high-water by reads decided: flat on a healthy gate
                        _log.info("gate reads=%d hwm=%d", self.nlat, self.device.heap_hwm)
                        hwm_at = (self.nlat // _HWM_EVERY + 1) * _HWM_EVERY
                if self.done and exit_when_done:
                    await self.batch.flush()
                    if self.batch.idle() and self.device.idle():
                        # the last mark, even when the run ends between two marks
                        _log.info("gate reads=%d hwm=%d", self.nlat, self.device.heap_hwm)
                        _log.info("gate %s", self.latency_report())
                        if hasattr(inputs, "lag_report"):
                            _log.info("site %s", inputs.lag_report())
                        return "done"
        finally:
            for t in tasks:
                t.cancel()
            if feed is not None:
                feed.cancel()


def _get(opt, key, default):
    v = opt(key)
    return default if v is None else v


def _pid(entry):
    if entry is None:
        return None
    return entry.get("id") if entry.get("t") == "person" else entry.get("person")
