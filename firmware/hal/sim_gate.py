"""Simulated gate peripherals (hal "sim" for lock, door, exit, card, keypad, face, plate,
barrier, loop, tamper, help), all facades onto one SiteSim: the doors of the site (relay,
position, passages) and the scenario player that plays the people in front of them.

The scenario is a JSON-lines file (or a list) of {"at": seconds since start, "do": ...}:
  {"do": "face", "who": "p-12" | "stranger-3", "door": "d1", "score": 93}
  {"do": "card", "card": "04A1B2C3", "door": "d1"}   {"do": "qr", "qr": "q-9f2c"}
  {"do": "pin", "pin": "1234"}      {"do": "plate", "plate": "浙A12345", "color": "blue",
  "conf": 97}   {"do": "pass", "door": "d1", "n": 2}   (n people / vehicles walk through)
  {"do": "force", "door": "d1", "s": 1}   {"do": "hold", "door": "d1", "s": 40}
  {"do": "exit", "door": "d1"}   {"do": "tamper"}   {"do": "help"}
  {"do": "wait", "s": 2}   {"do": "end"}
"door" defaults to the first door. Readers call the handler the gate registered with the
part's on_*(cb), as a board's interrupt handler would (through micropython.schedule).
Real boards feed the same parts from interrupts; no module here touches hardware.
"""

import array
import asyncio
import json
import os
import time

_NO_FACE = 40  # similarity a module reports for a face it does not know
_LAG_KEEP = 1024


class SiteSim:
    """Doors (relay released?, open?, relay activations) and the scenario player."""

    def __init__(self, clock, script=(), doors=("d1",), relay_log=None):
        self.clock = clock
        self.relay_log = relay_log  # a file the relay appends "<door> 1|0" to on each move
        # a file is read a line at a time (a rush of hundreds of actions never sits in RAM)
        self.path = script if isinstance(script, str) else None
        self.script = None if self.path else list(script)
        self.pos = 0
        self.doors = list(doors) or ["d1"]
        self.released = {}
        self.opened = {}
        self.activations = {}
        self.cb = {}
        self.face = None
        self.done = False
        self._tasks = []
        # how late each action was played (ms after its "at"): the wait a read had before
        # the gate saw it, because the event loop was busy (the gate's lat_ms starts after)
        self.lag = array.array("H", bytes(2 * _LAG_KEEP))  # ms, capped at 65535
        self.nlag = 0

    def on(self, name, cb):
        self.cb[name] = cb

    def _call(self, name, *args):
        cb = self.cb.get(name)
        if cb is not None:
            cb(*args)

    # relay side (lock or barrier motor)
    def set(self, door, released):
        released = bool(released)
        was = self.released.get(door, False)
        if released and not was:
            self.activations[door] = self.activations.get(door, 0) + 1
        self.released[door] = released
        if self.relay_log and released != was:
            # what a test watches from outside (a logic analyser on the relay coil)
            with open(self.relay_log, "a") as f:
                f.write("%s %d\n" % (door, released))

    # position side (door sensor or loop)
    def set_open(self, door, is_open):
        is_open = bool(is_open)
        if self.opened.get(door, False) != is_open:
            self.opened[door] = is_open
            self._call("change", door, is_open)

    async def _open_for(self, door, s, passes=0):
        self.set_open(door, True)
        for _ in range(passes):
            await asyncio.sleep_ms(20)
            self._call("pass", door)
        await asyncio.sleep_ms(int(s * 1000))
        self.set_open(door, False)

    def _actions(self):
        # (pos, action) from self.pos on
        if self.script is not None:
            for i in range(self.pos, len(self.script)):
                yield self.script[i]
            return
        with open(self.path) as f:
            k = 0
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                k += 1
                if k > self.pos:
                    yield json.loads(line)

    def lag_report(self):
        n = min(self.nlag, _LAG_KEEP)
        if not n:
            return "lag n=0"
        v = sorted(self.lag[i] for i in range(n))
        return "lag n=%d p50_ms=%d p99_ms=%d max_ms=%d" % (
            n, v[n // 2], v[min(n - 1, n * 99 // 100)], v[-1])

    def elapsed_ms(self):
        return time.ticks_diff(self.clock.ticks_ms(), self.t0)

    async def run(self):
        """Play the scenario from self.pos (the gate restores it after a restart); returns at
        its end or at an "end" action."""
        self.t0 = self.clock.ticks_ms()
        for act in self._actions():
            if self.done:
                break
            due = int(act.get("at", 0) * 1000)
            while True:
                wait = due - self.elapsed_ms()
                if wait <= 0:
                    break
                await asyncio.sleep_ms(min(wait, 1000))
            late = -wait
            self.lag[self.nlag % _LAG_KEEP] = min(late, 65535) if late > 0 else 0
            self.nlag += 1
            self.pos += 1
            await self.play(act)
            # one action per turn of the loop, as interrupts arrive one at a time: a player
            # behind its schedule must not play a burst of reads the gate's tasks never see
            await asyncio.sleep_ms(0)
        for t in self._tasks:
            if not t.done():
                await t
        self._tasks = []
        self.done = True

    async def play(self, act):
        do = act.get("do")
        door = act.get("door") or self.doors[0]
        if do == "face":
            template, score, track = self.face.match(act.get("who"), act.get("score"))
            self._call("face", door, template, score, track)
        elif do == "card":
            self._call("card", door, "card", str(act.get("card", "")))
        elif do == "qr":
            self._call("card", door, "qr", str(act.get("qr", "")))
        elif do == "pin":
            self._call("keypad", door, str(act.get("pin", "")))
        elif do == "plate":
            self._call(
                "plate",
                door,
                str(act.get("plate", "")),
                act.get("color", "blue"),
                int(act.get("conf", 99)),
            )
        elif do == "pass":
            # people (or vehicles) walk through: the door opens, n passages, it closes. The
            # next in the queue reads after them: played in line, so a gate whose loop is late
            # (signing a batch) never sees the next grant before this passage
            await self._open_for(door, act.get("s", 0.2), int(act.get("n", 1)))
        elif do in ("force", "hold"):
            self._tasks.append(
                asyncio.create_task(self._open_for(door, act.get("s", 1), int(act.get("n", 0))))
            )
        elif do == "exit":
            self._call("exit", door)
        elif do in ("tamper", "help"):
            self._call(do, door)
        elif do == "wait":
            await asyncio.sleep_ms(int(act.get("s", 1) * 1000))
        elif do == "end":
            self.done = True
        else:
            raise ValueError("scenario: unknown action %r" % do)
        self._tasks = [t for t in self._tasks if not t.done()]


class SimRelay:
    """lock / barrier: set(door, released), released(door), activations(door)."""

    def __init__(self, site):
        self.site = site

    def set(self, door, released):
        self.site.set(door, released)

    def released(self, door):
        return self.site.released.get(door, False)

    def activations(self, door):
        return self.site.activations.get(door, 0)


class SimPosition:
    """door / loop: is_open(door), on_change(cb(door, is_open)), on_pass(cb(door))."""

    def __init__(self, site):
        self.site = site

    def is_open(self, door):
        return self.site.opened.get(door, False)

    def on_change(self, cb):
        self.site.on("change", cb)

    def on_pass(self, cb):
        self.site.on("pass", cb)


class SimInput:
    """A reader or button: on_read(cb) registers the handler the site calls."""

    def __init__(self, site, name):
        self.site = site
        self.name = name

    def on_read(self, cb):
        self.site.on(self.name, cb)


class SimFace:
    """Face module: matches a capture against the templates it holds, made on the device by
    enrol() and kept on flash in `path` (a line "template person" each). The simulation's
    library of faces: `people` {person: similarity score} and `seed` {template: person} (what
    a new module holds, as if enrolled at provisioning), or a `library` file of lines
    "person score [template]" for a large compound (read a line at a time, never loaded).
    A capture of a person without a template here, or of a stranger, reports template None,
    a low score and a track id (the module's id for an unknown face, stable across captures
    of the same face)."""

    def __init__(self, site, path, people=None, seed=None, library=None):
        self.site = site
        self.path = path
        self.people = people or {}
        self.library = library
        site.face = self
        try:
            open(path).close()
        except OSError:
            try:
                os.mkdir(path.rsplit("/", 1)[0])  # the flash root (before the Device made it)
            except OSError:
                pass
            with open(path + ".tmp", "w") as f:
                for t in seed or {}:
                    f.write("%s %s\n" % (t, seed[t]))
                for row in self._library():
                    if len(row) > 2:
                        f.write("%s %s\n" % (row[2], row[0]))
            os.rename(path + ".tmp", path)

    def _library(self):
        if self.library:
            with open(self.library) as f:
                for line in f:
                    row = line.split()
                    if row:
                        yield row

    def _rows(self):
        with open(self.path) as f:
            for line in f:
                row = line.split()
                if len(row) == 2:
                    yield row

    def on_read(self, cb):
        self.site.on("face", cb)

    def _score(self, who):
        if who in self.people:
            return self.people[who]
        for row in self._library():
            if row[0] == who:
                return int(row[1])
        return 92

    def match(self, who, score=None):
        for t, p in self._rows():
            if p == who:
                return t, self._score(who) if score is None else int(score), None
        return None, _NO_FACE if score is None else int(score), who

    def enrol(self, person, template):
        """Make a template of `person` (the face in front of the camera) and keep it on the
        device under `template`, the id the hub chose; replaces a template of that person
        held under another id. Returns `template`."""
        rows = [r for r in self._rows() if r[1] != person and r[0] != template]
        rows.append((template, person))
        with open(self.path + ".tmp", "w") as f:
            for t, p in rows:
                f.write("%s %s\n" % (t, p))
        os.rename(self.path + ".tmp", self.path)
        return template

    def delete(self, template):
        rows = [r for r in self._rows() if r[0] != template]
        found = len(rows) != len(self.templates())
        if found:
            with open(self.path + ".tmp", "w") as f:
                for t, p in rows:
                    f.write("%s %s\n" % (t, p))
            os.rename(self.path + ".tmp", self.path)
        return found

    def templates(self):
        return [r[0] for r in self._rows()]


class SimPlate:
    """Plate reader: on_read(cb(door, plate, colour, confidence))."""

    def __init__(self, site):
        self.site = site

    def on_read(self, cb):
        self.site.on("plate", cb)
