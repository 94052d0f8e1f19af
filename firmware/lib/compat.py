# What CPython has and MicroPython lacks (or the other way round), in one place.
#   from compat import const, exists, remove, replace
try:
    from micropython import const
except ImportError:  # CPython: the firmware modules also run there in tests and tools

    def const(x):
        return x


import os


def exists(path):
    # os.path.exists (MicroPython has no os.path)
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    # os.remove that ignores a missing file (pathlib's unlink(missing_ok=True))
    try:
        os.remove(path)
    except OSError:
        pass


def replace(tmp, path):
    # os.replace: rename over an existing file, which FAT refuses
    try:
        os.rename(tmp, path)
    except OSError:
        remove(path)
        os.rename(tmp, path)
