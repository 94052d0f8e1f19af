"""Device runtime defects found in review (buffer sharing, remote config, receipts, media
leaks): each test runs the Device on MicroPython at 192K with a fake link."""

from __future__ import annotations

import json

import pytest

KEY = "fdd476a09e382815807afc797d3170c414be37a2af58f9d273e35f13fcac7dbd"

PRELUDE = """
import json, sys, asyncio, os, hashlib, binascii
import hal
import device
from device import Device
from protocol import chunking, command, crypto, envelope
cfg = json.load(open(sys.argv[1]))
hub_seed = bytes(range(32)); cfg["hub_key"] = crypto.public_key(hub_seed).hex()
h = hal.build(cfg)

class FakeLink:
    def __init__(self, f, **kw):
        self.sent = 0
        self.frames = []
    def is_up(self): return True
    async def wait_up(self): pass
    async def publish(self, topic, payload, qos=1, retain=False, timeout=10, keep=True):
        self.sent += 1
        self.frames.append((topic, bytes(payload)))
"""


@pytest.fixture
def dev_cfg(tmp_path):
    def make(**over) -> str:
        cfg = {
            "device_id": "hh-review",
            "grid": "33010200100101",
            "key": KEY,
            "hub_key": "00" * 32,
            "flash": str(tmp_path / "flash"),
            "hal": {"ui": "none", "camera": "none", "microphone": "none"},
            "sim": {},
            "heartbeat_s": 0,
        }
        cfg.update(over)
        path = tmp_path / "cfg.json"
        path.write_text(json.dumps(cfg))
        return str(path)

    return make


def test_emit_hashing_does_not_overwrite_a_chunk_being_sent(run_mpy, dev_cfg):
    # review: emit() hashed new media through the upload buffer while the drain task was
    # writing a chunk from it (the MQTT writer yields between 2 KiB slices)
    script = (
        PRELUDE
        + """
class FakeW:
    def __init__(self): self.out = []
    def write(self, b): self.out.append(bytes(b))
    async def drain(self): await asyncio.sleep(0)

class SliceLink(FakeLink):
    def __init__(self, f, **kw):
        FakeLink.__init__(self, f)
        self.c = device.mqtt.MQTTClient("x", "h")
        self.c._w = FakeW()
    async def publish(self, topic, payload, qos=1, retain=False, timeout=10, keep=True):
        w = self.c._w; w.out = []
        await device.mqtt.MQTTClient._write(self.c, b"", payload)   # the real slicing writer
        self.frames.append((topic, b"".join(w.out)))

def mk(path, byte, n):
    with open(path, "wb") as f:
        f.write(bytes([byte]) * n)

async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=SliceLink)
    a = d.media_dir + "/a.bin"; b = d.media_dir + "/b.bin"
    mk(a, 0x41, 40000); mk(b, 0x42, 40000)
    await d.emit("report", {"n": 1}, [(a, "application/octet-stream")])
    t = asyncio.create_task(d._drain())
    for _ in range(3):
        await asyncio.sleep(0)          # drain is now mid-chunk
    await d.emit("report", {"n": 2}, [(b, "application/octet-stream")])
    for _ in range(300):
        await asyncio.sleep(0)
    d._stop = True; d._wake.set()
    good = bad = 0
    for topic, fr in d.link.frames:
        if topic.endswith("/blob"):
            sha, idx, total, pl = chunking.parse_frame(fr)
            want = bytes([0x41 if b"A" in bytes(pl[:1]) else 0x42]) * len(pl)
            if bytes(pl) == want:
                good += 1
            else:
                bad += 1
    print("good", good, "bad", bad)

asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(), heapsize="4M")
    assert "bad 0" in out, out
    assert "good 6" in out, out


def test_remote_config_is_validated_and_zero_heartbeat_is_off(run_mpy, dev_cfg):
    # review: a `config` command was applied unchecked: heartbeat_s 0 made the heartbeat loop
    # emit back to back, a string killed the task, and the override was persisted for every boot
    script = (
        PRELUDE
        + """
class NoLink(FakeLink):
    def is_up(self): return False
def cmd(cseq, args):
    return command.seal_command(cfg["device_id"], cseq, "c-%d" % cseq, "config", args,
                                h.clock.time(), h.clock.time() + 600, hub_seed)
def last_ack(d):
    rec = None
    for rec in d.outbox.iter():
        pass
    return envelope.parse(rec[2])["body"]
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=NoLink)
    for bad in ({"heartbeat_s": "600"}, {"heartbeat_s": -5}, {"track_s": 10 ** 6},
                {"track_batch": 0}, {"categories": "roads"}, {"heartbeat_s": 60, "key": "x"}):
        await d.handle_command(cmd(d.guard.last_cseq + 1, bad))
        a = last_ack(d)
        print("ACK", a["status"], a["detail"])
    print("OVERRIDE", d.state.get("cfg"))
    await d.handle_command(cmd(d.guard.last_cseq + 1, {"heartbeat_s": 0, "track_batch": 5}))
    print("ACK", last_ack(d)["status"], "OVERRIDE", sorted(d.state.get("cfg").items()))
    n0 = len(d.outbox)
    hb = asyncio.create_task(d._heartbeat())
    await asyncio.sleep_ms(500)
    print("HEARTBEATS", len(d.outbox) - n0, "ALIVE", not hb.done())
    hb.cancel()
    # an unchecked override persisted by older firmware is dropped at boot
    d.state.set("cfg", {"heartbeat_s": "600", "track_s": 20}); d.state.save()
    d2 = Device(cfg, h, cfg["flash"], link_factory=NoLink)
    print("BOOT", d2.state.get("cfg"))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(heartbeat_s=300), heapsize="4M")
    acks = [line for line in out.splitlines() if line.startswith("ACK failed")]
    assert len(acks) == 6, out
    keys = ("heartbeat_s", "heartbeat_s", "track_s", "track_batch", "categories", "key")
    for key, line in zip(keys, acks, strict=True):
        assert f"config {key}" in line, out
    assert "OVERRIDE None" in out, out
    assert "ACK succeeded OVERRIDE [('heartbeat_s', 0), ('track_batch', 5)]" in out, out
    assert "HEARTBEATS 0 ALIVE True" in out, out
    assert "BOOT {'track_s': 20}" in out, out


def test_cumulative_receipts_replace_the_resend_list(run_mpy, dev_cfg):
    # review: every receipt appended its missing list, so N cumulative receipts naming the
    # same chunks queued (and sent) N copies
    script = (
        PRELUDE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    p = d.media_dir + "/m.jpg"
    with open(p, "wb") as f: f.write(b"x" * (16384 * 10))
    sha = "ab" * 32
    d.state.set("held", {sha: p})
    for k in range(5):
        d._on_receipt(command.seal_receipt(d.dev, 0, {sha: list(range(10))}, h.clock.time(),
                                           hub_seed))
    d._on_receipt(command.seal_receipt(d.dev, 0, {sha: [2, 7]}, h.clock.time(), hub_seed))
    while d._resend_ready() is not None:
        await d._resend_missing(d._resend_ready())
    print("SENT", d.link.sent, sorted(chunking.parse_frame(f)[1] for t, f in d.link.frames))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(keep_media=True), heapsize="4M")
    assert "SENT 2 [2, 7]" in out, out


def test_receipt_trim_keeps_a_record_whose_chunks_the_hub_misses(run_mpy, dev_cfg):
    # review: with trim_on "receipt" a record was trimmed (its media deleted) as soon as the
    # receipt's seq covered it, even when the same receipt listed missing chunks of its blob
    script = (
        PRELUDE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    p = d.media_dir + "/m.jpg"
    with open(p, "wb") as f: f.write(b"x" * (16384 * 6))
    await d.emit("report", {}, [(p, "image/jpeg")])
    sha = envelope.parse(d.outbox.peek()[2])["blobs"][0]["sha256"]
    await d._send_record(d.outbox.peek())
    d.link.frames = []
    d._on_receipt(command.seal_receipt(d.dev, 1, {sha: [3, 4]}, h.clock.time(), hub_seed))
    d._trim()
    print("KEPT", len(d.outbox), p.split("/")[-1] in os.listdir(d.media_dir))
    while d._resend_ready() is not None:
        await d._resend_missing(d._resend_ready())
    print("RESENT", sorted(chunking.parse_frame(f)[1] for t, f in d.link.frames))
    d._trim()
    print("WAITING", len(d.outbox))
    d._on_receipt(command.seal_receipt(d.dev, 1, {sha: []}, h.clock.time(), hub_seed))
    d._trim()
    print("TRIMMED", len(d.outbox), p.split("/")[-1] in os.listdir(d.media_dir),
          d._resend_ready())
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "KEPT 1 True" in out, out
    assert "RESENT [3, 4]" in out, out
    assert "WAITING 1" in out, out
    assert "TRIMMED 0 False None" in out, out


def test_media_of_an_event_the_full_outbox_refuses_is_deleted(run_mpy, dev_cfg):
    # review: emit() counted the event lost on OutboxFullError but left its photos on flash
    script = (
        PRELUDE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    n = 0
    while True:  # records without media are never dropped: fill the outbox with them
        if await d.emit("track", {"pad": "x" * 1500}) is None:
            break
        n += 1
    p = d.media_dir + "/m.jpg"
    with open(p, "wb") as f: f.write(b"x" * 3000)
    seq = await d.emit("report", {}, [(p, "image/jpeg")])
    print("REFUSED", seq, "LOST", d.state.get("lost"), "MEDIA_LOST", d.state.get("media_lost"),
          "LEFT", os.listdir(d.media_dir))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(outbox_bytes=8192), heapsize="4M")
    assert "REFUSED None LOST 2 MEDIA_LOST 1 LEFT []" in out, out
