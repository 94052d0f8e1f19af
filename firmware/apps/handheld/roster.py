"""The grid's workers on the handheld: the list the hub pushes (signed `workers` command) and
the PIN check at sign-in, with the wrong-PIN limit (per worker id: typing other ids never
resets one's count; at most 16 ids are counted, the one least near a lock making room).

Imported when a sign-in or a `workers` command comes and dropped after (apps/handheld/app.py):
PBKDF2 and the list are not needed on the heap between sign-ins.

<flash>/workers.json: {"v": <the list's digest, from the hub>, "grid": <code>,
"workers": {<worker id>: [salt_hex, iterations, hash_hex]}}. Until the hub's first list
arrives, config "workers" (same record form; provisioning may write it) is used.
Device state "pin_fails" {<worker id>: [count, locked_until_s]} counts wrong PINs in a row per
worker id; pin_tries of them lock that id out for pin_lock_s (a right PIN resets the count).
"""

from state import State

from protocol import pin as pin_mod

MAX_WORKERS = 64


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

    def check(self, worker, pin, now):
        """(ok, fails, locked): a PIN for worker, counted against the limit."""
        st = self.device.state
        fails = dict(st.get("pin_fails", None) or {})
        count, until = fails.get(worker) or (0, 0)
        if until and now < until:
            return False, count, True
        rec = self.records().get(worker)
        if rec is not None and pin_mod.check(rec, pin):
            if worker in fails:
                fails.pop(worker)
                st.set("pin_fails", fails)
            return True, 0, False
        count += 1
        locked = count >= (self.device.opt("pin_tries") or 5)
        until = now + (self.device.opt("pin_lock_s") or 300) if locked else 0
        fails[worker] = [0 if locked else count, until]
        while len(fails) > 16:  # ids typed at random: the one least near a lock goes
            k = min((k for k in fails if k != worker),  # ties by id: the same on every port
                    key=lambda k: (fails[k][1] if fails[k][1] > now else fails[k][0], k))
            fails.pop(k)
        st.set("pin_fails", fails)
        return False, count, locked
