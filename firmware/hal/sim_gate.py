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

import asyncio
import json
import time

_NO_FACE = 40  # similarity a module reports for a face it does not know


def _read_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(json.loads(line))
    return out


class SiteSim:
    """Doors (relay released?, open?, relay activations) and the scenario player."""

    def __init__(self, clock, script=(), doors=("d1",)):
        self.clock = clock
        if isinstance(script, str):
            script = _read_jsonl(script)
        self.script = list(script)
        self.pos = 0
        self.doors = list(doors) or ["d1"]
        self.released = {}
        self.opened = {}
        self.activations = {}
        self.cb = {}
        self.face = None
        self.done = False
        self._tasks = []

    def on(self, name, cb):
        self.cb[name] = cb

    def _call(self, name, *args):
        cb = self.cb.get(name)
        if cb is not None:
            cb(*args)

    # relay side (lock or barrier motor)
    def set(self, door, released):
        released = bool(released)
        if released and not self.released.get(door):
            self.activations[door] = self.activations.get(door, 0) + 1
        self.released[door] = released

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

    def remaining(self):
        return len(self.script) - self.pos

    def elapsed_ms(self):
        return time.ticks_diff(self.clock.ticks_ms(), self.t0)

    async def run(self):
        """Play the scenario from self.pos (the gate restores it after a restart); returns at
        its end or at an "end" action."""
        self.t0 = self.clock.ticks_ms()
        while self.pos < len(self.script) and not self.done:
            act = self.script[self.pos]
            due = int(act.get("at", 0) * 1000)
            while True:
                wait = due - self.elapsed_ms()
                if wait <= 0:
                    break
                await asyncio.sleep_ms(min(wait, 1000))
            self.pos += 1
            await self.play(act)
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
            self._call("plate", door, str(act.get("plate", "")), act.get("color", "blue"),
                       int(act.get("conf", 99)))
        elif do == "pass":
            # people (or vehicles) walk through: the door opens, n passages, it closes
            self._tasks.append(asyncio.create_task(
                self._open_for(door, act.get("s", 0.2), int(act.get("n", 1)))))
        elif do in ("force", "hold"):
            self._tasks.append(asyncio.create_task(
                self._open_for(door, act.get("s", 1), int(act.get("n", 0)))))
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
    """Face module: matches a capture against the templates it holds (made on the device by
    enrol(); kept on flash in `path`; `seed` {template: person} is what a new module holds,
    as if enrolled at provisioning). `people`: {person: similarity score} (the configurable
    library of faces the simulation knows; default score 92). A capture of a person without
    a template here, or of a stranger, reports template None, a low score and a track id
    (the module's id for an unknown face, stable across captures of the same face)."""

    def __init__(self, site, path, people=None, seed=None):
        self.site = site
        self.path = path
        self.people = people or {}
        try:
            with open(path) as f:
                self.store = json.load(f)
        except OSError:
            # a new module: the templates provisioning enrolled ({template: person})
            seed = seed or {}
            self.store = {"n": len(seed), "t": dict(seed)}
        site.face = self
        self._by_person = {}
        self._index()

    def _index(self):
        self._by_person = {}
        for t, p in self.store["t"].items():
            self._by_person[p] = t

    def _save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.store, f)
        import os

        os.rename(tmp, self.path)

    def on_read(self, cb):
        self.site.on("face", cb)

    def match(self, who, score=None):
        t = self._by_person.get(who)
        if t is None:
            return None, _NO_FACE if score is None else int(score), who
        return t, int(self.people.get(who, 92) if score is None else score), None

    def enrol(self, person):
        """Make a template for `person` on the device; returns its id (one per person)."""
        t = self._by_person.get(person)
        if t is not None:
            return t
        self.store["n"] += 1
        t = "t-%04d" % self.store["n"]
        self.store["t"][t] = person
        self._save()
        self._index()
        return t

    def delete(self, template):
        if self.store["t"].pop(template, None) is not None:
            self._save()
            self._index()
            return True
        return False

    def templates(self):
        return list(self.store["t"])


class SimPlate:
    """Plate reader: on_read(cb(door, plate, colour, confidence))."""

    def __init__(self, site):
        self.site = site

    def on_read(self, cb):
        self.site.on("plate", cb)
