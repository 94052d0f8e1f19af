"""firmware/lib/outbox.py on MicroPython and CPython: order, acks, reopen, torn writes, full."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

PRELUDE = """
import os, sys, json
import outbox
root = sys.argv[1]
def rids(ob):
    return [r[0] for r in ob.iter()]
"""


def _result(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_put_peek_ack_in_order_and_reopen(run_fw, tmp_path):
    out = run_fw(
        PRELUDE
        + """
ob = outbox.Outbox(root, max_bytes=64 * 1024)
r = {}
r["empty"] = [len(ob), ob.bytes_used, ob.peek()]
ids = [ob.put("gl/v1/d/evt/track", b"p%03d" % i) for i in range(20)]
r["ids"] = ids
pk = ob.peek()
r["peek"] = [pk[0], pk[1], str(pk[2], "ascii"), pk[3]]
r["len"] = len(ob)
used = ob.bytes_used
for i in ids[:5]:
    ob.ack(i)
ob.ack(ids[0])        # repeated ack: ignored
ob.ack(9999)          # unknown: ignored
r["after_ack"] = [len(ob), ob.peek()[0], ob.bytes_used < used]
r["files"] = len([n for n in os.listdir(root) if n.startswith("e")])
ob.close()
ob = outbox.Outbox(root, max_bytes=64 * 1024)
r["reopen"] = rids(ob)
r["payloads"] = [str(p[2], "ascii") for p in ob.iter()][:2]
n = ob.put("t", b"new")
r["new"] = n
for i in rids(ob):
    ob.ack(i)
r["drained"] = [len(ob), ob.peek(), ob.bytes_used]
ob = outbox.Outbox(root, max_bytes=64 * 1024)
r["drained_reopen"] = [len(ob), ob.peek()]
r["files_left"] = sorted(os.listdir(root))
print(json.dumps(r))
""",
        tmp_path / "ob",
    )
    r = _result(out)
    assert r["empty"] == [0, 0, None]
    assert r["ids"] == list(range(1, 21))
    assert r["peek"] == [1, "gl/v1/d/evt/track", "p000", []]
    assert r["len"] == 20
    assert r["after_ack"] == [15, 6, True]
    assert r["files"] == 15  # one file per unacknowledged record
    assert r["reopen"] == list(range(6, 21))
    assert r["payloads"] == ["p005", "p006"]
    assert r["new"] > 20  # rids never repeat, even across a reopen
    assert r["drained"] == [0, None, 0]
    assert r["drained_reopen"] == [0, None]
    assert r["files_left"] == ["meta"]  # no record, no temp file left


def test_out_of_order_ack_survives_reopen(run_fw, tmp_path):
    out = run_fw(
        PRELUDE
        + """
ob = outbox.Outbox(root)
ids = [ob.put("t/%d" % i, b"x" * 40) for i in range(8)]
ob.ack(3); ob.ack(5); ob.ack(4)
r = {"a": rids(ob), "len": len(ob)}
ob = outbox.Outbox(root)
r["b"] = rids(ob)
ob.ack(1); ob.ack(2)            # the head moves over the acked 3, 4, 5
r["c"] = [rids(ob), len(ob), ob.peek()[0]]
ob = outbox.Outbox(root)
r["d"] = [rids(ob), len(ob)]
print(json.dumps(r))
""",
        tmp_path / "ob",
    )
    r = _result(out)
    assert r["a"] == [1, 2, 6, 7, 8] and r["len"] == 5
    assert r["b"] == [1, 2, 6, 7, 8]
    assert r["c"] == [[6, 7, 8], 3, 6]
    assert r["d"] == [[6, 7, 8], 3]


def test_put_torn_by_power_loss_leaves_no_record(run_fw, tmp_path):
    root = tmp_path / "ob"
    run_fw(PRELUDE + "ob = outbox.Outbox(root)\nob.put('t', b'r1')\nob.put('t', b'r2')\n", root)
    whole = (root / "e00000002").read_bytes()
    (root / "tmp").write_bytes(whole[:-3])  # power lost while the third put wrote its temp file
    out = run_fw(
        PRELUDE
        + """
ob = outbox.Outbox(root)
r = {"a": rids(ob), "len": len(ob), "tmp": "tmp" in os.listdir(root)}
r["new"] = ob.put("t", b"after")
ob = outbox.Outbox(root)
r["b"] = rids(ob)
r["last"] = str(list(ob.iter())[-1][2], "ascii")
print(json.dumps(r))
""",
        root,
    )
    r = _result(out)
    assert r["a"] == [1, 2] and r["len"] == 2 and r["tmp"] is False
    assert r["new"] > 2
    assert r["b"] == [1, 2, r["new"]]
    assert r["last"] == "after"


@pytest.mark.parametrize("damage", ["bitflip", "truncated"])
def test_damaged_record_is_caught_by_crc(run_fw, tmp_path, damage):
    root = tmp_path / "ob"
    run_fw(
        PRELUDE + "ob = outbox.Outbox(root)\nob.put('t', b'A' * 50)\nob.put('t', b'B' * 50)\n", root
    )
    rec = root / "e00000002"
    data = bytearray(rec.read_bytes())
    if damage == "bitflip":
        data[-10] ^= 0xFF
    else:
        del data[-10:]
    rec.write_bytes(bytes(data))
    out = run_fw(
        PRELUDE + "ob = outbox.Outbox(root)\nprint(json.dumps([rids(ob), len(ob), ob.corrupt]))",
        root,
    )
    assert _result(out) == [[1], 1, 1]
    assert not rec.exists()  # never sent, never counted again


def test_full_policy_drops_oldest_media_first_never_plain_events(run_fw, tmp_path):
    out = run_fw(
        PRELUDE
        + """
media = root + "-media"
try:
    os.mkdir(media)
except OSError:
    pass
def blob(name, n):
    p = "%s/%s" % (media, name)
    with open(p, "wb") as f:
        f.write(b"m" * n)
    return p
ob = outbox.Outbox(root, max_bytes=10000)
r = {}
a = ob.put("evt/report", b"with photo a", media=[blob("a.jpg", 3000)])
e1 = ob.put("evt/track", b"plain 1")
b = ob.put("evt/report", b"with photo b", media=[blob("b.jpg", 3000), blob("b.wav", 1000)])
r["used"] = ob.bytes_used
c = ob.put("evt/report", b"with photo c", media=[blob("c.jpg", 3500)])  # a's media must go
r["after_c"] = [ob.dropped, ob.media_dropped(a), ob.media_dropped(b),
                sorted(os.listdir(media)), ob.bytes_used <= 10000, rids(ob)]
r["media_a"] = [ob.media(a), ob.peek()[3]]
ob = outbox.Outbox(root, max_bytes=10000)          # counters and marks survive a reopen
r["reopen"] = [ob.dropped, ob.media_dropped(a), ob.media(b), len(ob)]
plain = 0
try:
    while True:
        ob.put("evt/track", b"t" * 200)
        plain += 1
except outbox.OutboxFullError:
    r["full"] = [ob.dropped, sorted(os.listdir(media)), len(ob), rids(ob)[:4]]
r["plain"] = plain
ob.ack(e1)
ob.ack(a)
r["acked"] = [rids(ob)[:2], ob.bytes_used <= 10000]
print(json.dumps(r))
""",
        tmp_path / "ob",
    )
    r = _result(out)
    assert r["used"] > 7000
    dropped, a_dropped, b_dropped, files, within, ids = r["after_c"]
    assert (dropped, a_dropped, b_dropped) == (1, True, False)
    assert files == ["b.jpg", "b.wav", "c.jpg"]
    assert within and ids == [1, 2, 3, 4]  # the event of the dropped media stays
    assert r["media_a"] == [[], [f"{tmp_path}/ob-media/a.jpg"]]
    assert r["reopen"][:2] == [1, True] and len(r["reopen"][2]) == 2 and r["reopen"][3] == 4
    # filling with plain events: b and c lose their media, then the outbox refuses
    dropped, files, n, first = r["full"]
    assert dropped == 3 and files == [] and first == [1, 2, 3, 4]
    assert n == 4 + r["plain"] and r["plain"] > 10
    assert r["acked"][0] == [3, 4]


def test_kill_during_puts_and_acks_keeps_order_and_acked_stay_acked(mpy_procs, tmp_path):
    root = tmp_path / "ob"
    script = (
        PRELUDE
        + """
ob = outbox.Outbox(root)
i = 0
while True:
    ob.put("t", b"n%07d" % i + b"." * 64)
    i += 1
    if i % 3 == 0:
        head = ob.peek()[0]
        ob.ack(head)
        print("acked", head)
"""
    )
    p = mpy_procs(script, root)
    deadline = time.monotonic() + 10
    acked = []
    while len(acked) < 150 and time.monotonic() < deadline:
        line = p.stdout.readline()
        if line.startswith("acked"):
            acked.append(int(line.split()[1]))
    os.kill(p.pid, signal.SIGKILL)  # power loss at an arbitrary point
    p.wait()
    # acks the process printed after the 150th line read and before the kill (still in the
    # pipe): they returned too
    acked += [int(ln.split()[1]) for ln in p.stdout.read().splitlines() if ln.startswith("acked")]
    assert len(acked) >= 150, p.stderr.read()
    out = mpy_procs(PRELUDE + "ob = outbox.Outbox(root)\nprint(json.dumps(rids(ob)))\n", root)
    out.wait(30)
    ids = json.loads(out.stdout.read().strip().splitlines()[-1])
    assert ids, "unacked records are kept"
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # in order, no gaps, no repeats
    assert not set(acked) & set(ids)  # an ack that returned is never undone
    assert ids[0] <= max(acked) + 2  # ... and nothing unacked was lost at the head


def test_unreadable_meta_does_not_stop_the_boot(run_fw, tmp_path):
    root = tmp_path / "ob"
    run_fw(
        PRELUDE
        + """
ob = outbox.Outbox(root)
for i in range(4):
    ob.put("t", b"r%d" % i)
ob.ack(1); ob.ack(2)
""",
        root,
    )
    (root / "meta").write_text('{"rid": 6')  # a flash fault, not a torn rename
    r = _result(
        run_fw(
            PRELUDE
            + "ob = outbox.Outbox(root)\n"
            + "print(json.dumps([ob.recovered, rids(ob), ob.put('t', b'x')]))",
            root,
        )
    )
    assert r == [True, [3, 4], 5]  # records are files: nothing acked comes back


def test_receipt_trimming_helpers_walk_without_loading(run_fw, tmp_path):
    """next_after / rids / tail (trim_on "receipt"), and rec_seq reading the seq from the end
    of a sealed envelope, also when the body holds a "seq" key of its own."""
    out = run_fw(
        PRELUDE
        + """
from outbox import rec_seq
ob = outbox.Outbox(root, max_bytes=64 * 1024)
r = {}
env = '{"blobs":[],"body":{"seq":99,"t":",\\\\"seq\\\\":7"},"dev":"d","kind":"k","prev":"%s",' \\
      '"seq":%d,"sig":"%s","ts":1795000000,"v":1}'
ids = [ob.put("t", env % ("0" * 64, i + 1, "a" * 128)) for i in range(5)]
r["rids"] = list(ob.rids()) == ids
r["seqs"] = [rec_seq(ob.tail(i, 256)) for i in ids]
r["short"] = rec_seq(b'"seq":12,"sig":"x"') is None and rec_seq(b',"seq":12,"v":1}') == 12
ob.ack(ids[1])
r["after0"] = ob.next_after(0)[0] == ids[0]
r["after1"] = ob.next_after(ids[0])[0] == ids[2]
r["after_last"] = ob.next_after(ids[4])
r["rids2"] = list(ob.rids()) == [ids[0]] + ids[2:]
r["gone"] = ob.tail(ids[1], 256)
print(json.dumps(r))
""",
        tmp_path / "ob",
    )
    r = _result(out)
    assert r == {
        "rids": True,
        "seqs": [1, 2, 3, 4, 5],
        "short": True,
        "after0": True,
        "after1": True,
        "after_last": None,
        "rids2": True,
        "gone": None,
    }


def test_rids_walk_starts_above_removed_records(run_fw, tmp_path):
    out = run_fw(
        PRELUDE
        + """
ob = outbox.Outbox(root, max_bytes=64 * 1024)
ids = [ob.put("t", b"x%d" % i) for i in range(6)]
for i in ids[:4]:
    ob.ack(i)           # removed oldest first, never peeked
r = {"rids": list(ob.rids()) == ids[4:], "lo": ob._lo == ids[4]}
r["after"] = ob.next_after(0)[0] == ids[4]
r["peek"] = ob.peek()[0] == ids[4]
n = ob.put("t", b"y")
r["rids2"] = list(ob.rids()) == ids[4:] + [n]
print(json.dumps(r))
""",
        tmp_path / "ob",
    )
    assert _result(out) == {"rids": True, "lo": True, "after": True, "peek": True, "rids2": True}
