# The gate's access lists on flash (docs/access.md section 2, docs/firmware-gate-lists.md).
#
# Nothing is loaded into RAM: entries live in _NB bucket files, a line per key, the bucket
# chosen by CRC-32 of the key. Entry keys: "p:<id>" person, "v:<plate>" vehicle, "s:<id>"
# schedule, value = the entry as JSON. Credential keys: "c:<card>", "q:<qr>", "n:<pin hash>",
# "d:<duress pin hash>", "f:<face template>", value = the owner's entry key. A card lookup
# reads one bucket for the credential and one for its owner; a plate one bucket.
#
#   <root>/cur          "<gen> <version>\n": the generation in force (missing: version 0)
#   <root>/g<gen>/map   _NB x u32: the generation whose directory holds each bucket (0: empty)
#   <root>/g<gen>/<bb>  the buckets that generation wrote (bucket number, 2 hex digits)
#   <root>/g<gen>/gone  the face templates the sync to it removed, one a line
#   <root>/stage/       the sync under way: hdr (JSON), l<bb> change logs, gone
#
# A bucket file is "\n" then "key\tvalue\n" lines, so a key is found with one bytes.find of
# "\nkey\t" in a reused buffer. Sync: each part's changes are appended to the change logs
# of the buckets they touch (stage/l<bb>: "key\t=value", "key\t-", "key\t~owner" lines).
# The last part builds each touched bucket once (the bucket in force + its log; untouched
# buckets stay where they are: copy-on-write), writes stage/map, renames stage/ to g<gen+1>/
# and switches cur by one rename; then the buckets the new map no longer names are removed.
# Opening removes whatever a power cut left (an unreferenced g<n>, a stage/ whose part was
# being applied, superseded buckets). Entries are checked in acl_entry.py.
#   ls = Lists("/flash/acl"); ls.find("card", "04A1B2C3") -> {"t": "person", ...} or None
#   ls.sync({"mode": "delta", "base": 41, "version": 42, "part": 1, "parts": 9, "entries": [...]})
import asyncio
import binascii
import gc
import json
import os
import struct

from acl_entry import SyncError, check, clean, complete, cred_keys, entry_key, is_int
from compat import const, exists, remove, replace

_NB = const(256)
_BUF = const(2048)  # grows to the largest bucket read (+512)
_MAXOPS = const(160)  # bucket changes held at a time while a sync part is applied
_ENTRY_OPS = const(52)  # the most one item makes: its old and new credentials, itself
_YIELD_EVERY = const(4)  # bucket rewrites between two turns of the event loop (sync_async)
_HDR = ("mode", "base", "version", "parts")
_CRED = {"card": "c:", "qr": "q:", "pin": "n:", "face": "f:"}


def _bucket(key):
    return binascii.crc32(key.encode()) % _NB


def _rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for n in names:
        remove(path + "/" + n)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _write(path, data):
    # whole file, atomically on littlefs (commit on close) and by rename elsewhere
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    replace(path + ".tmp", path)


def _change(cur, op, val):
    # a value after one change-log line: "=" put val, "-" delete, "~" delete if owned by val
    if op == 61:  # "="
        return val
    if op == 45 or cur == val:  # "-", or "~" with the owner named
        return None
    return cur


class Lists:
    def __init__(self, root):
        self.root = root.rstrip("/")
        self._buf = bytearray(_BUF)
        self._map = bytearray(4 * _NB)
        self._sflag = bytearray(_NB)  # buckets stage/ holds
        self._hdr = None  # the staged sync's header
        self._flat = None  # bucket changes of a sync chunk (allocated at the first sync)
        self._lbuf = None  # a change log being applied at commit
        self.version = 0
        self._gen = 0
        self.removed_faces = []
        try:
            os.mkdir(self.root)
        except OSError:
            pass
        self._open()

    # --- open and recovery ------------------------------------------------------------------

    def _open(self):
        root = self.root
        cur = root + "/cur"
        if not exists(cur) and exists(cur + ".tmp"):
            replace(cur + ".tmp", cur)  # power lost inside replace() on FAT
        remove(cur + ".tmp")
        gen = ver = 0
        try:
            with open(cur) as f:
                s = f.read()
            gen, ver = [int(x) for x in s.split()]
            with open("%s/g%d/map" % (root, gen), "rb") as f:
                if f.readinto(self._map) != 4 * _NB:
                    raise ValueError
        except (OSError, ValueError):
            if gen:  # unreadable pointer or map: no list (every credential denied until a sync)
                gen = ver = 0
            self._map[:] = bytes(4 * _NB)
        self._gen = gen
        self.version = ver
        self.removed_faces = Gone("%s/g%d/gone" % (root, gen))
        self._gc()
        hdr = None
        try:
            with open(root + "/stage/hdr") as f:
                hdr = json.load(f)
        except (OSError, ValueError):
            pass
        if not isinstance(hdr, dict) or hdr.get("busy") or hdr.get("gen") != gen:
            hdr = None  # a part cut while being applied, or staged against another version
            _rmtree(root + "/stage")
        else:
            for n in os.listdir(root + "/stage"):
                if len(n) == 3 and n[0] == "l":
                    self._sflag[int(n[1:], 16)] = 1
        self._hdr = hdr

    def _gmap(self, b):
        return struct.unpack_from(">I", self._map, 4 * b)[0]

    def _gc(self):
        # remove generations and buckets the map in force does not name
        live = {self._gen}
        for b in range(_NB):
            live.add(self._gmap(b))
        for n in os.listdir(self.root):
            if n[0] != "g" or n == "g%d" % self._gen:
                continue
            try:
                g = int(n[1:])
            except ValueError:
                continue
            d = "%s/%s" % (self.root, n)
            if g not in live:
                _rmtree(d)
                continue
            for f in os.listdir(d):
                if len(f) != 2 or self._gmap(int(f, 16)) != g:
                    remove(d + "/" + f)

    # --- lookups ------------------------------------------------------------------------------

    def _path(self, b):
        g = self._gmap(b)
        return "%s/g%d/%02x" % (self.root, g, b) if g else None

    def _read(self, path):
        # bucket file into the reused buffer: its length (0: no file)
        if path is None:
            return 0
        try:
            n = os.stat(path)[6]
        except OSError:
            return 0
        if n > len(self._buf):
            self._buf = bytearray(n + 512)
        with open(path, "rb") as f:
            return f.readinto(memoryview(self._buf)[:n])

    def _find(self, path, key):
        n = self._read(path)
        return self._at(key, n) if n else None

    def _value(self, key):
        return self._find(self._path(_bucket(key)), key)

    def _get(self, key):
        v = self._value(key) if key else None
        if not v:
            return None
        try:
            return complete(json.loads(v))
        except (ValueError, AttributeError):  # a line flash damaged: nobody (deny), no crash
            return None

    def find(self, cred, value):
        """The entry a credential belongs to, or None. pin: value is sha256 hex of 'pin:<pin>'."""
        if cred == "plate":
            p = "v:"
        else:
            p = _CRED.get(cred)
            if p is None:
                raise ValueError("credential kind " + str(cred))
        if not clean(value, 128):
            return None
        if p == "v:":
            return self._get(p + value)
        owner = self._value(p + value)
        if owner is None and p == "n:":
            e = self._get(self._value("d:" + value))
            if e is not None:
                e["_duress"] = True
            return e
        return self._get(owner)

    def person(self, pid):
        return self._get("p:" + pid) if clean(pid, 64) else None

    def schedule(self, sid):
        return self._get("s:" + sid) if clean(sid, 64) else None

    def has_face(self, template):
        return clean(template, 64) and self._value("f:" + template) is not None

    # --- sync ---------------------------------------------------------------------------------

    def sync(self, args):
        """Apply one list_sync part; the ack detail ("staged i/n", "applied <version>").
        SyncError: the part is refused and the version in force stays; staged parts stay
        too unless the part was valid and could not be applied (a flash error, an entry a
        full snapshot puts twice). args["entries"] is normalised in place."""
        for _ in self._sync(args):
            pass
        return self._res

    async def sync_async(self, args, every=_YIELD_EVERY):
        """sync() that lets the event loop run (asyncio.sleep_ms(0)) after every `every`
        bucket rewrites of a commit, so the gate keeps deciding while a big sync commits.
        Lookups between the steps read the version in force (the pointer switch is one step);
        the power-loss guarantees are sync()'s. One sync at a time (the command task)."""
        k = 0
        for _ in self._sync(args):
            k += 1
            if k % every == 0:
                await asyncio.sleep_ms(0)
        return self._res

    def _sync(self, args):
        # a generator: yields between bucket rewrites of the commit; the detail in self._res
        self._res = None
        if not isinstance(args, dict):
            raise SyncError("bad_part")
        mode = args.get("mode")
        if mode not in ("full", "delta"):
            raise SyncError("bad_part mode")
        for f in ("base", "version", "part", "parts"):
            if not is_int(args.get(f)) or args[f] < 0:
                raise SyncError("bad_part " + f)
        base, ver, part, parts = args["base"], args["version"], args["part"], args["parts"]
        if ver < 1 or (mode == "delta" and ver <= base) or (mode == "full" and base):
            raise SyncError("bad_part version")
        if not 1 <= part <= parts:
            raise SyncError("bad_part part")
        items = args.get("entries")
        if not isinstance(items, list):
            raise SyncError("bad_part entries")
        hdr = self._hdr
        same = hdr and [hdr[f] for f in _HDR] == [mode, base, ver, parts]
        if part > 1 and same and part == hdr["done"]:
            self._res = "staged %d/%d" % (part, parts)  # a part acked before (ack lost)
            return
        if hdr is None and part == parts and ver == self.version and (part > 1 or mode == "delta"):
            self._res = "applied %d" % ver  # the last part again, after it committed
            return
        if part == 1 and mode == "delta" and base != self.version:
            raise SyncError("base_mismatch %d" % self.version)
        if part > 1 and not (same and part == hdr["done"] + 1):
            raise SyncError("part_order %d" % part)
        ops = [check(e, i) for i, e in enumerate(items)]  # "put" / "del" per item
        if mode == "full" and "del" in ops:
            raise SyncError("bad_part del_in_full")
        if part == 1:
            self._wipe()
            hdr = {"mode": mode, "base": base, "version": ver, "parts": parts, "gen": self._gen}
            self._hdr = hdr
        try:  # the part is valid: from here on only a flash error (or a power cut) stops it
            if part == 1:
                os.mkdir(self.root + "/stage")
            hdr["done"] = part - 1
            hdr["busy"] = part
            self._save_hdr()
            self._stage(items, ops)
            if part == parts:
                yield from self._commit()
                self._res = "applied %d" % ver
                return
            hdr["done"] = part
            hdr["busy"] = 0
            self._save_hdr()
        except OSError as x:
            self._wipe()
            raise SyncError("flash %s" % (x.args[0] if x.args else "error"))
        except SyncError:
            self._wipe()
            raise
        self._res = "staged %d/%d" % (part, parts)

    def _wipe(self):
        _rmtree(self.root + "/stage")
        self._hdr = None
        self._sflag[:] = bytes(_NB)

    def _save_hdr(self):
        _write(self.root + "/stage/hdr", json.dumps(self._hdr).encode())

    def _spath(self, b, log=""):
        return "%s/stage/%s%02x" % (self.root, log, b)

    def _vpath(self, b):
        # where the new version of a bucket is read from once stage/ holds it (at commit)
        if self._sflag[b]:
            return self._spath(b)
        return self._path(b) if self._hdr["mode"] == "delta" else None

    def _sval(self, key):
        # the value of key as the sync staged so far leaves it: the version in force (a
        # delta), then the bucket's change log in order
        b = _bucket(key)
        v = self._find(self._path(b), key) if self._hdr["mode"] == "delta" else None
        if not self._sflag[b]:
            return v
        n = self._read(self._spath(b, "l"))
        buf = self._buf
        k = b"\n" + key.encode() + b"\t"
        i = buf.find(k, 0, n)
        while i >= 0:
            j = i + len(k)
            e = buf.find(b"\n", j, n)
            v = _change(v, buf[j], bytes(memoryview(buf)[j + 1 : e]).decode())
            i = buf.find(k, e, n)
        return v

    def _stage(self, items, puts):
        # turn the part's items into bucket changes, a chunk at a time (as many as the
        # preallocated change buffer holds), appended to the buckets' change logs in stage/
        # before the next chunk is read against them: the heap holds one chunk's changes
        if self._flat is None:
            self._flat = [None] * (3 * _MAXOPS)  # key, value or None, owner a delete needs
            self._ob = bytearray(_MAXOPS)  # the bucket of each change
        full = self._hdr["mode"] == "full"
        pend = {}  # entry key -> the entry as this chunk left it (None: deleted)
        gone = []
        n = 0
        for e, op in zip(items, puts):
            if n > _MAXOPS - _ENTRY_OPS:
                self._flush(n, gone)
                n = 0
                pend = {}
                gone = []
            k = entry_key(e)
            if full:
                old = None  # a full snapshot starts empty (an entry put twice: at commit)
            elif k in pend:
                old = pend[k]
            else:
                v = self._sval(k)
                old = json.loads(v) if v else None
            put = op == "put"
            if old is not None:
                for ik in cred_keys(old):
                    n = self._add(n, ik, None, k)
                f = old.get("face")
                if f and not (put and e.get("face") == f):
                    gone.append(f)
            n = self._add(n, k, json.dumps(e) if put else None, None)
            if put:
                for ik in cred_keys(e):
                    n = self._add(n, ik, k, None)
            if not full:
                pend[k] = e if put else None
        if n:
            self._flush(n, gone)

    def _add(self, n, key, val, owner):
        f = self._flat
        f[3 * n] = key
        f[3 * n + 1] = val
        f[3 * n + 2] = owner
        self._ob[n] = _bucket(key)
        return n + 1

    def _flush(self, n, gone):
        # append the chunk's changes to the change logs, one open per bucket
        if gone:  # a delta's candidates (checked against the new version at commit)
            with open(self.root + "/stage/gone", "a") as f:
                for t in gone:
                    f.write(t + "\n")
        flat, ob = self._flat, self._ob
        seen = bytearray(_NB)
        for x in range(n):
            b = ob[x]
            if seen[b]:
                continue
            seen[b] = 1
            with open(self._spath(b, "l"), "ab") as f:
                if not self._sflag[b]:
                    f.write(b"\n")
                for y in range(x, n):
                    if ob[y] == b:
                        key, val, owner = flat[3 * y], flat[3 * y + 1], flat[3 * y + 2]
                        if val is not None:
                            line = key + "\t=" + val
                        elif owner is None:
                            line = key + "\t-"
                        else:
                            line = key + "\t~" + owner
                        f.write((line + "\n").encode())
            self._sflag[b] = 1
            self._hook("bucket")
        for i in range(3 * n):
            flat[i] = None
        gc.collect()

    def _build(self, b, full):
        # at commit: bucket b of the new version = the version in force (a delta) with the
        # bucket's change log applied, streamed from the reused buffers (the lines that stay
        # are written as runs, not parsed)
        lpath = self._spath(b, "l")
        with open(lpath, "rb") as f:
            ln = os.stat(lpath)[6]
            if self._lbuf is None or ln > len(self._lbuf):
                self._lbuf = bytearray(ln + 512)
            lb = self._lbuf
            f.readinto(memoryview(lb)[:ln])
        m = 0 if full else self._read(self._path(b))
        buf = self._buf
        fin = {}  # key -> its new value, None: removed
        i = lb.find(b"\n", 0, ln)
        while 0 <= i < ln - 1:
            t = lb.find(b"\t", i, ln)
            e = lb.find(b"\n", t, ln)
            key = bytes(memoryview(lb)[i + 1 : t]).decode()
            op = lb[t + 1]
            if full and key in fin and key[0] in "pvs" and key[1] == ":":
                raise SyncError("duplicate " + key)
            cur = fin[key] if key in fin else self._at(key, m)
            fin[key] = _change(cur, op, bytes(memoryview(lb)[t + 2 : e]).decode())
            i = e
        cut = []
        for key in fin:
            j = buf.find(b"\n" + key.encode() + b"\t", 0, m)
            if j >= 0:
                cut.append(j)
        cut.sort()
        mv = memoryview(buf)
        with open(self._spath(b), "wb") as f:
            pos = 0
            if not m:
                f.write(b"\n")
            for j in cut:
                f.write(mv[pos:j])
                pos = buf.find(b"\n", j + 1, m)
            f.write(mv[pos:m])
            for key, val in fin.items():
                if val is not None:
                    f.write((key + "\t" + val + "\n").encode())
        remove(lpath)
        self._hook("bucket")

    def _at(self, key, n):
        # the value of key in the bucket read into the buffer (n bytes), or None
        b = self._buf
        k = b"\n" + key.encode() + b"\t"
        i = b.find(k, 0, n)
        if i < 0:
            return None
        i += len(k)
        return bytes(memoryview(b)[i : b.find(b"\n", i, n)]).decode()

    def _commit(self):
        hdr = self._hdr
        root = self.root
        gen = self._gen + 1
        while exists("%s/g%d" % (root, gen)):
            gen += 1  # never reuse a directory name
        delta = hdr["mode"] == "delta"
        for b in range(_NB):
            if self._sflag[b]:
                self._build(b, not delta)
                yield
        gc.collect()
        m = bytearray(4 * _NB)
        for b in range(_NB):
            g = gen if self._sflag[b] else (self._gmap(b) if delta else 0)
            struct.pack_into(">I", m, 4 * b, g)
        # the faces this sync removed: a delta's candidates, or every face of the old version
        # (a full snapshot), less those the new version still has
        gone = root + "/stage/gone"
        with open(gone + ".tmp", "w") as out:
            if delta and exists(gone):
                with open(gone) as f:
                    for t in f:
                        self._gone(t.strip(), out)
            elif not delta:
                for b in range(_NB):
                    for t in self._faces(b):
                        self._gone(t, out)
                    yield
        replace(gone + ".tmp", gone)
        _write(root + "/stage/map", m)
        remove(root + "/stage/hdr")
        self._hook("map")
        os.rename(root + "/stage", "%s/g%d" % (root, gen))
        self._hook("renamed")
        _write(root + "/cur", ("%d %d\n" % (gen, hdr["version"])).encode())
        self._hook("switched")
        old, og = self._map, self._gen
        self._map = m
        self._gen = gen
        self.version = hdr["version"]
        self.removed_faces = Gone("%s/g%d/gone" % (root, gen))
        self._hdr = None
        self._sflag[:] = bytes(_NB)
        # remove what the new map no longer names (a power cut here: _gc at the next open)
        remove("%s/g%d/map" % (root, og))
        remove("%s/g%d/gone" % (root, og))
        gens = set()
        for b in range(_NB):
            g = struct.unpack_from(">I", old, 4 * b)[0]
            if g and g != self._gmap(b):
                remove("%s/g%d/%02x" % (root, g, b))
                gens.add(g)
                yield
        gens.add(og)
        for g in gens:
            try:
                os.rmdir("%s/g%d" % (root, g))  # only once empty
            except OSError:
                pass

    def _hook(self, step):
        # tests raise here to cut the power between the two renames of a commit
        pass

    def _gone(self, t, out):
        k = "f:" + t
        if t and self._find(self._vpath(_bucket(k)), k) is None:
            out.write(t + "\n")

    def _faces(self, b):
        # the face templates of one bucket of the version in force
        out = []
        n = self._read(self._path(b))
        buf = self._buf
        i = buf.find(b"\nf:", 0, n)
        while i >= 0:
            j = buf.find(b"\t", i, n)
            out.append(bytes(buf[i + 3 : j]).decode())
            i = buf.find(b"\nf:", j, n)
        return out


class Gone:
    """The face templates the last applied sync removed, read from flash when iterated."""

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        try:
            f = open(self.path)
        except OSError:
            return
        with f:
            for t in f:
                t = t.strip()
                if t:
                    yield t

    def __len__(self):
        n = 0
        for _ in self:
            n += 1
        return n
