# Checking list entries for acl.py: the fields, types and lengths docs/access.md section 2
# allows, so a malformed list_sync part is refused with the item and field it got wrong.
#   op = check(item, i)   # "put" / "del"; SyncError("bad_entry <i> <field>")
#   entry_key(entry) -> "p:p-12"; cred_keys(entry) -> ["c:04A1B2C3", ...]; complete(entry)


_HEX = "0123456789abcdef"
_KINDS = ("person", "vehicle", "schedule")
_PKINDS = ("resident", "staff", "visitor")
# person credential lists: field, key prefix, most items, longest item
PLISTS = (
    ("cards", "c:", 8, 32),
    ("qr", "q:", 8, 128),
    ("pins", "n:", 4, 64),
    ("duress", "d:", 4, 64),
)


class SyncError(Exception):
    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


def clean(v, n):
    # a key part: a non-empty str of at most n characters without tab / newline
    return (
        isinstance(v, str) and 0 < len(v) <= n and "\t" not in v and "\n" not in v and "\r" not in v
    )


def is_int(v):
    return isinstance(v, int) and type(v) is not bool


def _hhmm(v):
    if not isinstance(v, str) or len(v) != 5 or v[2] != ":":
        return -1
    try:
        m = int(v[:2]) * 60 + int(v[3:])
    except ValueError:
        return -1
    return m if 0 <= m <= 1440 and int(v[3:]) < 60 else -1


_FIELDS = {
    "person": ("t", "id", "kind", "from", "to", "doors", "sched", "black", "face")
    + tuple(x[0] for x in PLISTS),
    "vehicle": ("t", "plate", "person", "from", "to", "doors", "sched", "black"),
    "schedule": ("t", "id", "days", "from", "to"),
}


def _bad(i, f):
    return SyncError("bad_entry %d %s" % (i, f))


def check(e, i):
    """Check one put / del item: "put" or "del", SyncError("bad_entry <index> <field>").
    The item loses "op" and unknown fields; defaults are filled in when it is read back
    (_full), not here: a parsed part must not grow on a 192K heap."""
    if not isinstance(e, dict):
        raise _bad(i, "item")
    op = e.pop("op", None)
    t = e.get("t")
    if op not in ("put", "del"):
        raise _bad(i, "op")
    if t not in _KINDS:
        raise _bad(i, "t")
    kf = "plate" if t == "vehicle" else "id"
    if not clean(e.get(kf), 16 if t == "vehicle" else 64):
        raise _bad(i, kf)
    for f in [f for f in e if f not in _FIELDS[t]]:
        del e[f]
    if op == "del":
        return op
    if t == "schedule":
        days = e.get("days")
        if not isinstance(days, list) or not 0 < len(days) <= 7:
            raise _bad(i, "days")
        for d in days:
            if not is_int(d) or not 1 <= d <= 7:
                raise _bad(i, "days")
        for f in ("from", "to"):
            if _hhmm(e.get(f)) < 0:
                raise _bad(i, f)
        return op
    fr = e.get("from", 0)
    to = e.get("to")
    if not is_int(fr) or fr < 0:
        raise _bad(i, "from")
    if to is not None and not is_int(to):
        raise _bad(i, "to")
    doors = e.get("doors")
    if not isinstance(doors, list) or not 0 < len(doors) <= 32:
        raise _bad(i, "doors")
    for d in doors:
        if not clean(d, 16):
            raise _bad(i, "doors")
    if type(e.get("black", False)) is not bool:
        raise _bad(i, "black")
    v = e.get("sched")
    if v is not None and not clean(v, 64):
        raise _bad(i, "sched")
    if t == "vehicle":
        v = e.get("person")
        if v is not None and not clean(v, 64):
            raise _bad(i, "person")
        return op
    if e.get("kind") not in _PKINDS:
        raise _bad(i, "kind")
    alt = False
    for f, _, most, n in PLISTS:
        v = e.get(f, [])
        if not isinstance(v, list) or len(v) > most:
            raise _bad(i, f)
        for c in v:
            if not clean(c, n) or (n == 64 and (len(c) != 64 or c.strip(_HEX))):
                raise _bad(i, f)
        alt = alt or (v and f != "duress")
    v = e.get("face")
    if v is not None and not clean(v, 64):
        raise _bad(i, "face")
    if v is not None and not alt:
        raise _bad(i, "face_only")  # face is never the only way in
    return op


_DEFAULTS = (("from", 0), ("to", None), ("sched", None), ("black", False))


def complete(e):
    # an entry read back with every field of its type
    t = e.get("t")
    if t != "schedule":
        for f, d in _DEFAULTS:
            if f not in e:
                e[f] = d
    if t == "vehicle" and "person" not in e:
        e["person"] = None
    if t == "person":
        for f, _, _, _ in PLISTS:
            if f not in e:
                e[f] = []
        if "face" not in e:
            e["face"] = None
    return e


def cred_keys(e):
    # the credential keys of an entry (persons only)
    if e["t"] != "person":
        return []
    ks = [p + c for f, p, _, _ in PLISTS for c in e.get(f, ())]
    if e.get("face"):
        ks.append("f:" + e["face"])
    return ks


def entry_key(e):
    t = e["t"]
    return ("v:" + e["plate"]) if t == "vehicle" else (t[0] + ":" + e["id"])
