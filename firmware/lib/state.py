# Small persistent device state (seq, hash-chain head, command cseq, session, upload progress).
#
# One JSON file, saved atomically: write <path>.tmp, keep the previous file as <path>.bak, rename
# the temp over <path>. A missing file is an empty state; a corrupt one raises ValueError unless
# the .bak copy is good (then that is used).
#   st = State("/flash/state.json"); st.set("seq", st.get("seq", 0) + 1); st.save()
import json
import os


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


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
        if not _exists(path) and _exists(tmp):  # power lost between the two renames of save()
            try:
                _read(tmp)
                os.rename(tmp, path)
            except ValueError:  # torn while being written: the old state stands
                os.remove(tmp)
        if not _exists(path):
            return _read(path + ".bak") if _exists(path + ".bak") else {}
        try:
            return _read(path)
        except ValueError:
            if _exists(path + ".bak"):
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
        if _exists(path):
            try:
                os.rename(path, path + ".bak")  # replaces the old .bak (POSIX, littlefs)
            except OSError:  # FAT will not rename over an existing file
                os.remove(path + ".bak")
                os.rename(path, path + ".bak")
        os.rename(tmp, path)
        self.dirty = False
