"""The grid's workers on the handheld: the list the hub pushes (signed `workers` command) and
the PIN check at sign-in, with the wrong-PIN limits: per worker id (typing other ids never
resets one's count; at most 16 ids are counted, the one least near a lock making room), and for
the whole keypad (4 x pin_tries wrong PINs in a row, whatever the ids, lock every id).

Imported when a sign-in or a `workers` command comes and dropped after (apps/handheld/app.py):
PBKDF2 and the list are not needed on the heap between sign-ins.

<flash>/workers.json: {"v": <the list's digest, from the hub>, "grid": <code>,
"workers": {<worker id>: [salt_hex, iterations, hash_hex]}}. Until the hub's first list
arrives, config "workers" (same record form; provisioning may write it) is used.
Device state "pin_fails" {<worker id>: [count, locked_until_s]} counts wrong PINs in a row per
worker id; pin_tries of them lock that id out for pin_lock_s (a right PIN resets the count).
"pin_all" [count, locked_until_s] counts them for the keypad.
"""

from state import State

from protocol import pin as pin_mod

MAX_WORKERS = 32  # as the hub's (hub/workers/roster.py)


class Roster:
    def __init__(self, device):
        self.device = device
        self.file = State(device.root + "/workers.json")

    def version(self):
        return self.file.get("v", None)

    def records(self):
        w = self.file.get("workers", None)
        if w is None:
            w = self.device.opt("workers") or {}
        return w

    def apply(self, args, grid):
        """A `workers` command's args: {v, grid, workers}. ValueError (acked "failed") when
        they are not a list for this grid; returns the ack's detail."""
        v, g, workers = args.get("v"), args.get("grid"), args.get("workers")
        if type(v) is not str or not 0 < len(v) <= 64:
            raise ValueError("workers: want v, the list's version")
        if g != grid:
            raise ValueError("workers: list for grid %s, this handheld serves %s" % (g, grid))
        if type(workers) is not dict or len(workers) > MAX_WORKERS:
            raise ValueError("workers: want at most %d records" % MAX_WORKERS)
        for wid, rec in workers.items():
            if (type(wid) is not str or not 0 < len(wid) <= 64 or type(rec) is not list
                    or len(rec) != 3):
                raise ValueError("workers: bad record for %s" % wid)
        st = self.file
        st.set("v", v)
        st.set("grid", g)
        st.set("workers", workers)
        st.save()
        return "applied " + v

    def _opt(self, key, default):
        v = self.device.opt(key)
        return default if v is None else v

    def check(self, worker, pin, now):
        """(ok, fails, locked): a PIN for worker, counted against the limits. The attempt is
        counted and saved before the PIN is checked, so cutting the power once "wrong" shows
        never takes it back."""
        st = self.device.state
        tries = self._opt("pin_tries", 5)
        lock_s = self._opt("pin_lock_s", 300)
        fails = dict(st.get("pin_fails", None) or {})
        every = list(st.get("pin_all", None) or (0, 0))  # the whole keypad: wrong in a row
        count, until = fails.get(worker) or (0, 0)
        # no lock outlasts pin_lock_s from now (a clock set back would keep one for years)
        until, every[1] = min(until, now + lock_s), min(every[1], now + lock_s)
        if now < until or now < every[1]:
            fails[worker] = [count, until]
            self._save(fails, every)
            return False, count, True
        fails[worker] = [count + 1, 0]
        every[0] += 1
        self._save(fails, every, worker, now)
        records = self.records()
        rec = records.get(worker)
        # an unknown id costs the same PBKDF2 as a known one: the time tells no ids apart
        ok = pin_mod.check(rec or self._dummy(records), pin) and rec is not None
        if ok:
            fails.pop(worker)
            self._save(fails, [0, 0])
            return True, 0, False
        count += 1
        locked = count >= tries
        if locked:
            fails[worker] = [0, now + lock_s]
        if every[0] >= 4 * tries:  # many ids tried wrong in a row: the keypad locks too
            every = [0, now + lock_s]
            locked = True
        self._save(fails, every)
        return False, count, locked

    def _dummy(self, records):
        n = pin_mod.ITERATIONS
        for rec in records.values():
            n = rec[1] if type(rec[1]) is int and 0 < rec[1] <= 1000000 else n
            break
        return ["00" * 16, n, "00" * 32]

    def _save(self, fails, every, keep=None, now=0):
        while len(fails) > 16:  # ids typed at random: the one least near a lock goes
            k = min((k for k in fails if k != keep),  # ties by id: the same on every port
                    key=lambda k: (fails[k][1] if fails[k][1] > now else fails[k][0], k))
            fails.pop(k)
        st = self.device.state
        st.set("pin_fails", fails)
        st.set("pin_all", every)
        st.save()
