"""Flash writes of one 2 MB photo report on littlefs (MicroPython unix port, RAM block device).

    .venv/bin/python bench/firmware_flash.py

The Device runs on VfsLfs2 over the RAM block device of tests/firmware/test_outbox_lfs.py (4 KiB
blocks) with a fake link that PUBACKs at once; it emits one report with a 2 MiB photo and
uploads it (128 chunks of 16 KiB). Counted separately for the emit and the upload: block
program operations, bytes programmed, block erases and files opened for writing. Only the
public Device API is used, so the same script measures older firmware too.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.micropython import run_micropython  # noqa: E402

KEY = "fdd476a09e382815807afc797d3170c414be37a2af58f9d273e35f13fcac7dbd"

SCRIPT = """
import asyncio, builtins, gc, json, os, vfs
import hal
from device import Device

class RAMFlash:
    def __init__(self, bs=4096, n=1024):
        self.bs, self.n = bs, n
        self.data = bytearray(b"\\xff" * (bs * n))
        self.progs = self.bytes = self.erases = 0
    def readblocks(self, b, buf, off=0):
        a = b * self.bs + off
        buf[:] = self.data[a : a + len(buf)]
    def writeblocks(self, b, buf, off=0):
        a = b * self.bs + off
        self.data[a : a + len(buf)] = buf
        self.progs += 1
        self.bytes += len(buf)
        return 0
    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            self.erases += 1
            a = arg * self.bs
            self.data[a : a + self.bs] = b"\\xff" * self.bs
        return 0

flash = RAMFlash()
vfs.VfsLfs2.mkfs(flash)
vfs.mount(vfs.VfsLfs2(flash), "/flash")

opens = [0]
_open = builtins.open
def counting_open(path, mode="r", *a):
    if "w" in mode or "a" in mode or "+" in mode:
        opens[0] += 1
    return _open(path, mode, *a)
builtins.open = counting_open

class FakeLink:
    def __init__(self, factory, **kw):
        self.sent = 0
    def is_up(self): return True
    async def wait_up(self): pass
    async def run(self):
        while True:
            await asyncio.sleep(3600)
    async def publish(self, topic, payload, qos=1, retain=False, timeout=10, keep=True):
        self.sent += 1
        await asyncio.sleep(0)
    async def shutdown(self): pass
    def stop(self): pass

cfg = {"device_id": "hh-flash", "grid": "33010200100101", "key": "%(key)s",
       "hub_key": "%(key)s", "flash": "/flash", "heartbeat_s": 0,
       "hal": {"camera": "none", "microphone": "none", "gps": "none", "battery": "none",
               "ui": "none"}}
h = hal.build(cfg)
d = Device(cfg, h, "/flash", link_factory=FakeLink)
photo = d.media_dir + "/p.jpg"
buf = bytearray(16384)
with open(photo, "wb") as f:
    for i in range(128):
        buf[0] = i
        f.write(buf)
buf = None
gc.collect()

def snap():
    return [flash.progs, flash.bytes, flash.erases, opens[0]]

def diff(a, b):
    return {"progs": b[0] - a[0], "bytes": b[1] - a[1], "erases": b[2] - a[2],
            "file_writes": b[3] - a[3]}

class App:
    async def run(self):
        s0 = snap()
        await d.emit("report", {"category": "road"}, [(photo, "image/jpeg")])
        s1 = snap()
        while not d.idle():
            await asyncio.sleep_ms(5)
        s2 = snap()
        return {"emit": diff(s0, s1), "upload": diff(s1, s2), "published": d.link.sent}

print("RESULT " + json.dumps(asyncio.run(d.run(App()))))
"""


def measure() -> dict:
    import json

    proc = run_micropython(SCRIPT % {"key": KEY}, heapsize="16M", timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[7:])


def main() -> int:
    r = measure()
    print(f"2 MiB photo report on littlefs (4 KiB blocks), {r['published']} messages published")
    print(f"{'phase':8} {'progs':>7} {'bytes':>10} {'erases':>7} {'file writes':>12}")
    for phase in ("emit", "upload"):
        p = r[phase]
        print(f"{phase:8} {p['progs']:7} {p['bytes']:10} {p['erases']:7} {p['file_writes']:12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
