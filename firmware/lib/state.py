# Small persistent device state.
#
# State: seq, hash-chain head, command cseq, session, app keys. One JSON file, saved atomically:
# write <path>.tmp, keep the previous file as <path>.bak, rename the temp over <path>. A missing
# file is an empty state; a corrupt one raises ValueError unless the .bak copy is good.
#   st = State("/flash/state.json"); st.set("seq", st.get("seq", 0) + 1); st.save()
#
# Progress: where the media upload of one outbox record stands, written after every PUBACK'd
# chunk, so it is one fixed-size record (u32 rid | u16 blob | u32 chunk | u8 envelope sent |
# u32 CRC-32) rewritten in place: on littlefs one small metadata commit (measured 1 program of
# 65 bytes, an erase every ~64 writes) instead of a temp file, a .bak and two renames.
# littlefs commits a file on close (old or new content after a power cut); a record torn on
# another filesystem fails its CRC and reads as "no progress" (the record is sent again whole).
#   pr = Progress("/flash/upload"); pr.save(rid, True, 0, 5); pr.load() -> [rid, True, 0, 5]
import binascii
import json
import os
import struct

from compat import exists, replace

_REC = ">IBHII"  # rid, envelope sent, blob, chunk, CRC-32 of the first 11 bytes

def _read(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError("state is not an object")
    return data


class State:
    def __init__(self, path):
        self.path = path
        self.dirty = False
        self._d = self._load()

    def _load(self):
        path = self.path
        tmp = path + ".tmp"
        if not exists(path) and exists(tmp):  # power lost between the two renames of save()
            try:
                _read(tmp)
                os.rename(tmp, path)
            except ValueError:  # torn while being written: the old state stands
                os.remove(tmp)
        if not exists(path):
            return _read(path + ".bak") if exists(path + ".bak") else {}
        try:
            return _read(path)
        except ValueError:
            if exists(path + ".bak"):
                try:
                    return _read(path + ".bak")
                except ValueError:
                    pass
            raise ValueError("state file corrupt: " + path)

    def get(self, key, default=None):
        return self._d.get(key, default)

    def __getitem__(self, key):
        return self._d[key]

    def __contains__(self, key):
        return key in self._d

    def set(self, key, value):
        self._d[key] = value
        self.dirty = True

    def update(self, d):
        self._d.update(d)
        self.dirty = True

    def pop(self, key, default=None):
        self.dirty = True
        return self._d.pop(key, default)

    def as_dict(self):
        return dict(self._d)

    def save(self):
        """Write atomically: tmp file, previous version kept as .bak, rename tmp over the file."""
        path = self.path
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self._d, f)
        if exists(path):
            replace(path, path + ".bak")
        os.rename(tmp, path)
        self.dirty = False


class Progress:
    def __init__(self, path):
        self.path = path
        self._b = bytearray(15)

    def load(self):
        """[rid, env_sent, blob, chunk], or None without an intact record."""
        b = self._b
        try:
            with open(self.path, "rb") as f:
                n = f.readinto(b)
        except OSError:
            return None
        rec = list(struct.unpack(_REC, b))
        if n != 15 or rec[4] != binascii.crc32(memoryview(b)[:11]) or not rec[0]:
            return None
        rec[1] = bool(rec[1])
        return rec[:4]

    def save(self, rid, env, blob, chunk):
        """Durable on return (rid 0: no upload under way)."""
        b = self._b
        struct.pack_into(_REC, b, 0, rid, env, blob, chunk, 0)
        struct.pack_into(">I", b, 11, binascii.crc32(memoryview(b)[:11]))
        try:
            f = open(self.path, "r+b")  # in place: same size, no truncation
        except OSError:
            f = open(self.path, "wb")
        f.write(b)
        f.close()
