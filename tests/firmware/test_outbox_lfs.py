"""The outbox and state on littlefs (VfsLfs2, the boards' flash filesystem) on a RAM block device:
power cut at every single block write, and the flash wear that decided the outbox design."""

from __future__ import annotations

import json

BLOCKDEV = """
import gc, os, sys, json, vfs
import outbox

class RAMFlash:
    # A NOR-like block device; after `budget` program/erase operations the power is gone.
    def __init__(self, bs=4096, n=64, data=None):
        self.bs, self.n = bs, n
        self.data = bytearray(data) if data is not None else bytearray(b"\\xff" * (bs * n))
        self.budget = -1
        self.ops = 0
        self.erases = 0

    def _spend(self):
        # False once the power is gone (littlefs gets -EIO; raising here is not allowed:
        # the callback runs with the heap locked)
        if self.budget == 0:
            return False
        if self.budget > 0:
            self.budget -= 1
        self.ops += 1
        return True

    def readblocks(self, b, buf, off=0):
        a = b * self.bs + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, b, buf, off=0):
        if not self._spend():
            return -5
        a = b * self.bs + off
        self.data[a : a + len(buf)] = buf
        return 0

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            if not self._spend():
                return -5
            self.erases += 1
            a = arg * self.bs
            self.data[a : a + self.bs] = b"\\xff" * self.bs
        return 0

def fresh(bs=4096, n=64):
    gc.collect()
    d = RAMFlash(bs, n)
    vfs.VfsLfs2.mkfs(d)
    return d
"""

POWER_CUT = (
    BLOCKDEV
    + """
def workload(done):
    ob = outbox.Outbox("/flash/ob", max_bytes=64 * 1024)
    for i in range(9):
        rid = ob.put("gl/v1/hh/evt/track", b"event-%02d" % i + b"." * 300)
        done.append(["put", rid])
        if i % 3 == 2:
            head = ob.peek()[0]
            ob.ack(head)
            done.append(["ack", head])
        if i == 4:
            ob.ack(rid)                      # out of order
            done.append(["ack", rid])

def run(budget):
    d = fresh()
    vfs.mount(vfs.VfsLfs2(d), "/flash")
    d.budget = budget
    done = []
    cut = False
    try:
        workload(done)
    except OSError:
        cut = True
    try:
        vfs.umount("/flash")
    except OSError:
        pass
    return d, done, cut

# how many flash operations the whole workload takes, then cut the power before each of them
d, done, cut = run(-1)
total = d.ops
bad = []
for budget in range(total + 1):
    d, done, cut = run(budget)
    image = RAMFlash(data=d.data)            # what the flash holds when the power comes back
    d = None
    vfs.mount(vfs.VfsLfs2(image), "/flash")
    ob = outbox.Outbox("/flash/ob", max_bytes=64 * 1024)
    rids = [r[0] for r in ob.iter()]
    put = [r for k, r in done if k == "put"]
    acked = set(r for k, r in done if k == "ack")
    errors = []
    if rids != sorted(rids):
        errors.append("order")
    if acked & set(rids):
        errors.append("acked came back")
    if [r for r in put if r not in acked and r not in rids]:
        errors.append("a put that returned was lost")
    if len(set(rids) - set(put)) > 1:
        errors.append("more than the one put in flight appeared")
    if len(rids) != len(ob):
        errors.append("len")
    rid = ob.put("t", b"after the cut")     # and it keeps working
    if rid in put or [r[0] for r in ob.iter()][-1] != rid:
        errors.append("rid reused")
    vfs.umount("/flash")
    if errors:
        bad.append([budget, errors, rids, done])
print(json.dumps({"total": total, "bad": bad[:3]}))
"""
)


def test_power_cut_at_every_flash_write(run_mpy):
    out = run_mpy(POWER_CUT, heapsize="4M", timeout=120)
    r = json.loads(out.strip().splitlines()[-1])
    assert r["total"] > 50  # the cut really lands inside puts, acks, meta writes
    assert r["bad"] == []


WEAR = (
    BLOCKDEV
    + """
N = 60
payload = b"e" * 400

def erases(fn):
    d = fresh(4096, 256)
    vfs.mount(vfs.VfsLfs2(d), "/flash")
    d.erases = 0
    fn()
    n = d.erases
    vfs.umount("/flash")
    return n / N

def outbox_design():
    ob = outbox.Outbox("/flash/ob", max_bytes=1 << 20)
    for i in range(N):
        ob.put("gl/v1/hh/evt/track", payload)
        ob.ack(ob.peek()[0])

def segment_log(batch):
    # the DESIGN.md alternative: one open append-only file, a record flushed every `batch`,
    # and an ack record appended (and flushed) per acknowledgement
    def fn():
        f = open("/flash/log", "wb")
        for i in range(N):
            f.write(payload)
            if (i + 1) % batch == 0:
                f.flush()
            f.write(b"ack-%06d" % i)
            if (i + 1) % batch == 0:
                f.flush()
        f.close()
    return fn

print(json.dumps({"file_per_event": erases(outbox_design), "log_sync_each": erases(segment_log(1)),
                  "log_sync_8": erases(segment_log(8))}))
"""
)


def test_file_per_event_wears_littlefs_least_when_every_event_is_durable(run_mpy):
    r = json.loads(run_mpy(WEAR, heapsize="4M").strip().splitlines()[-1])
    # measured 2026-11: file_per_event 1.07, log_sync_each 2.12, log_sync_8 0.35 erases/event:
    # batching is what makes the log cheap, and the issue wants each event and ack durable
    assert r["file_per_event"] < r["log_sync_each"]
    assert r["log_sync_8"] < r["file_per_event"]


STATE_CUT = (
    BLOCKDEV
    + """
import state

def run(budget):
    d = fresh(4096, 32)
    vfs.mount(vfs.VfsLfs2(d), "/flash")
    d.budget = budget
    saved = 0
    try:
        st = state.State("/flash/state.json")
        for seq in range(1, 6):
            st.update({"seq": seq, "prev": "%064d" % seq})
            st.save()
            saved = seq
    except OSError:
        pass
    try:
        vfs.umount("/flash")
    except OSError:
        pass
    return d, saved

d, saved = run(-1)
total = d.ops
bad = []
for budget in range(total + 1):
    d, saved = run(budget)
    image = RAMFlash(data=d.data, n=32)
    d = None
    vfs.mount(vfs.VfsLfs2(image), "/flash")
    try:
        seq = state.State("/flash/state.json").get("seq", 0)
        if not saved <= seq <= saved + 1:
            bad.append([budget, saved, seq])
    except ValueError as e:
        bad.append([budget, saved, str(e)])
    vfs.umount("/flash")
print(json.dumps({"total": total, "bad": bad[:3]}))
"""
)


def test_state_save_survives_a_power_cut_at_every_flash_write(run_mpy):
    r = json.loads(run_mpy(STATE_CUT, heapsize="2M", timeout=120).strip().splitlines()[-1])
    assert r["total"] > 20
    assert r["bad"] == []  # always the last saved state or the one being saved, never corrupt
