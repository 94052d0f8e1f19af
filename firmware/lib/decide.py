# A gate's local decision: who may pass which door now, from the lists on flash (acl.Lists).
#
# check() applies, in this order: unknown credential, low score (a face or plate match under
# its threshold identifies nobody, so it is judged before what the entry says), blacklist,
# validity (from / to), doors, schedule, anti-passback. A duress PIN is judged like the PIN it
# stands for; its entry carries "_duress": True and the app raises the alarm (on a grant or a
# denial). It never waits for the network: one or two bucket reads.
#
# Anti-passback (a door with "passback": true): a person or vehicle that went in through such
# a door is denied at an "in" door of it until it went out through one. Who is inside lives
# on flash in <root>/ bucket files (one "key\n" line each), each rewritten whole and
# atomically (temp + rename) by passed(), so a restart keeps the state and a power cut keeps
# either the old or the new bucket.
#   d = Decider(lists, cfg["doors"], hal.clock, "/flash/pb")
#   ev, reason, entry = d.check("d1", "card", "04A1B2C3")
#   if ev == "granted": relay.pulse(); d.passed("d1", entry)
import binascii
import os

from compat import const, exists, replace

_NB = const(64)
_BY = ("card", "qr", "pin", "face", "plate")


def _mins(hhmm):
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


class Decider:
    def __init__(
        self, lists, doors, clock, root, tz_offset_s=28800, face_threshold=80, plate_threshold=85
    ):
        self.lists = lists
        self.doors = {}
        for d in doors:
            self.doors[d["id"]] = (d.get("dir", "in"), bool(d.get("passback")))
        self.clock = clock
        self.root = root.rstrip("/")
        self.tz = tz_offset_s
        self.face_threshold = face_threshold
        self.plate_threshold = plate_threshold
        try:
            os.mkdir(self.root)
        except OSError:
            pass

    def check(self, door, by, value, score=None):
        """(ev, reason, entry): "granted" / "denied", None or a deny reason, the matched
        person or vehicle entry (or None)."""
        d = self.doors.get(door)
        if d is None:
            raise ValueError("door " + str(door))
        if by not in _BY:
            raise ValueError("by " + str(by))
        e = self.lists.find(by, value)
        if e is None:
            return "denied", "unknown", None
        if by in ("face", "plate"):
            least = self.face_threshold if by == "face" else self.plate_threshold
            if score is None or score < least:
                return "denied", "low_score", e
        if e.get("black"):
            return "denied", "blacklist", e
        now = self.clock.time()
        to = e.get("to")
        if now < e.get("from", 0) or (to is not None and now >= to):
            return "denied", "expired", e
        doors = e.get("doors") or ()
        if "*" not in doors and door not in doors:
            return "denied", "wrong_door", e
        sid = e.get("sched")
        if sid is not None and not self._in_schedule(sid, now):
            return "denied", "schedule", e
        if d[1] and d[0] == "in" and self._inside(_key(e)):
            return "denied", "anti_passback", e
        return "granted", None, e

    def _in_schedule(self, sid, now):
        s = self.lists.schedule(sid)
        if s is None:
            return False  # a schedule the list does not hold admits nobody
        t = now + self.tz
        day = (t // 86400 + 3) % 7 + 1  # 1970-01-01 was a Thursday; 1 = Monday
        m = t % 86400 // 60
        lo, hi = _mins(s["from"]), _mins(s["to"])
        if lo <= hi:
            return day in s["days"] and lo <= m < hi
        # over midnight (22:00-06:00): the part after midnight belongs to the day before
        if m >= lo:
            return day in s["days"]
        return m < hi and (day + 5) % 7 + 1 in s["days"]

    def passed(self, door, entry):
        """Record that entry went through door (call when it really opened)."""
        d = self.doors.get(door)
        if d is None or not d[1] or entry is None:
            return
        k = _key(entry)
        if k is not None:
            self._set(k, d[0] == "in")

    # --- who is inside, on flash ------------------------------------------------------------

    def _path(self, k):
        return "%s/%02x" % (self.root, binascii.crc32(k.encode()) % _NB)

    def _read(self, path):
        if not exists(path) and exists(path + ".tmp"):
            replace(path + ".tmp", path)  # power lost inside replace() on FAT
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def _inside(self, k):
        return k is not None and ("\n" + k + "\n") in self._read(self._path(k))

    def _set(self, k, inside):
        path = self._path(k)
        text = self._read(path) or "\n"
        line = k + "\n"
        has = ("\n" + line) in text
        if has == inside:
            return
        text = text + line if inside else text.replace("\n" + line, "\n")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        replace(path + ".tmp", path)


def _key(e):
    # who passes: a person by id, a vehicle by plate
    if e.get("t") == "vehicle":
        return "v:" + e["plate"]
    pid = e.get("id")
    return "p:" + pid if pid else None
