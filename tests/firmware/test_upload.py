"""Uploader (firmware/lib/upload.py) on MicroPython at a fake link: the upload buffer, hub
receipts and re-sends. The power-cut bound on re-sent chunks is tested end to end in
tests/hil/test_handheld.py."""

from __future__ import annotations

from tests.firmware.scripts import DEVICE


def test_emit_hashing_does_not_overwrite_a_chunk_being_sent(run_mpy, dev_cfg):
    # emit() hashed new media through the upload buffer while the drain task was
    # writing a chunk from it (the MQTT writer yields between 2 KiB slices)
    script = (
        DEVICE
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
    t = asyncio.create_task(d.uploader.run())
    for _ in range(3):
        await asyncio.sleep(0)          # drain is now mid-chunk
    await d.emit("report", {"n": 2}, [(b, "application/octet-stream")])
    for _ in range(300):
        await asyncio.sleep(0)
    d.uploader.stop()
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


def test_cumulative_receipts_replace_the_resend_list(run_mpy, dev_cfg):
    # every receipt appended its missing list, so N cumulative receipts naming the
    # same chunks queued (and sent) N copies
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    p = d.media_dir + "/m.jpg"
    with open(p, "wb") as f: f.write(b"x" * (16384 * 10))
    sha = "ab" * 32
    d.state.set("held", {sha: p})
    for k in range(5):
        d.uploader.on_receipt(command.seal_receipt(d.dev, 0, {sha: list(range(10))}, h.clock.time(),
                                           hub_seed))
    d.uploader.on_receipt(command.seal_receipt(d.dev, 0, {sha: [2, 7]}, h.clock.time(), hub_seed))
    while d.uploader._resend_ready() is not None:
        await d.uploader._resend_missing(d.uploader._resend_ready())
    print("SENT", d.link.sent, sorted(chunking.parse_frame(f)[1] for t, f in d.link.frames))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(keep_media=True), heapsize="4M")
    assert "SENT 2 [2, 7]" in out, out


def test_receipt_trim_keeps_a_record_whose_chunks_the_hub_misses(run_mpy, dev_cfg):
    # with trim_on "receipt" a record was trimmed (its media deleted) as soon as the
    # receipt's seq covered it, even when the same receipt listed missing chunks of its blob
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    p = d.media_dir + "/m.jpg"
    with open(p, "wb") as f: f.write(b"x" * (16384 * 6))
    await d.emit("report", {}, [(p, "image/jpeg")])
    sha = envelope.parse(d.outbox.peek()[2])["blobs"][0]["sha256"]
    await d.uploader.send_record(d.outbox.peek())
    d.link.frames = []
    d.uploader.on_receipt(command.seal_receipt(d.dev, 1, {sha: [3, 4]}, h.clock.time(), hub_seed))
    d.uploader._trim()
    print("KEPT", len(d.outbox), p.split("/")[-1] in os.listdir(d.media_dir))
    while d.uploader._resend_ready() is not None:
        await d.uploader._resend_missing(d.uploader._resend_ready())
    print("RESENT", sorted(chunking.parse_frame(f)[1] for t, f in d.link.frames))
    d.uploader._trim()
    print("WAITING", len(d.outbox))
    d.uploader.on_receipt(command.seal_receipt(d.dev, 1, {sha: []}, h.clock.time(), hub_seed))
    d.uploader._trim()
    print("TRIMMED", len(d.outbox), p.split("/")[-1] in os.listdir(d.media_dir),
          d.uploader._resend_ready())
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "KEPT 1 True" in out, out
    assert "RESENT [3, 4]" in out, out
    assert "WAITING 1" in out, out
    assert "TRIMMED 0 False None" in out, out


def test_a_receipt_with_no_news_is_not_verified_and_nothing_unverified_trims(run_mpy, dev_cfg):
    # every receipt was verified (~40 ms of pure-Python Ed25519 each), also those that could
    # change nothing: a seq not past the newest verified one and no blob listed
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    for i in range(3):
        await d.emit("note", {"i": i})
    up = d.uploader
    rc = lambda seq, blobs={}, seed=hub_seed: command.seal_receipt(d.dev, seq, blobs, 1, seed)
    up.on_receipt(rc(2))
    up._trim()
    print("A", up.receipts_verified, up.receipts_skipped, up.hub_seq, len(d.outbox))
    up.on_receipt(rc(2)); up.on_receipt(rc(1))          # no news: skipped
    print("B", up.receipts_verified, up.receipts_skipped, up.hub_seq)
    up.on_receipt(rc(1, {"ab" * 32: []}))               # names a blob: verified
    print("C", up.receipts_verified, up.receipts_skipped)
    up.on_receipt(rc(3, seed=b"\\x07" * 32))            # advances, forged: refused
    up._trim()
    print("D", up.receipts_verified, up.hub_seq, len(d.outbox))
    up.on_receipt(rc(3))
    up._trim()
    print("E", up.receipts_verified, up.hub_seq, len(d.outbox))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "A 1 0 2 1" in out, out
    assert "B 1 2 2" in out, out
    assert "C 2 2" in out, out
    assert "D 2 1 1" in out, out  # (C, verified, set hub_seq to its 1)
    assert "E 3 3 0" in out, out


def test_a_receipt_without_heap_for_its_check_is_retried_in_order_never_lost(run_mpy, dev_cfg):
    # a 192K handheld under load: a receipt's signature check (pure-Python Ed25519, ~10 KB of
    # transient heap) ran out of heap on the MQTT reader task and the receipt was lost, so a
    # trial boot's "updated" could stay unconfirmed. Now it is queued, the ones after it
    # queue behind it (receipts apply in order), and the drain task checks them again
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    for i in range(3):
        await d.emit("note", {"i": i})
    up = d.uploader
    rc = lambda seq, blobs={}, seed=hub_seed: command.seal_receipt(d.dev, seq, blobs, 1, seed)
    real = command.open_receipt
    fails = [2]
    def tight(p, pk):
        if fails[0]:
            fails[0] -= 1
            raise MemoryError("memory allocation failed")
        return real(p, pk)
    command.open_receipt = tight
    up.on_receipt(rc(1))                     # no heap: queued
    up.on_receipt(rc(2))                     # queued behind it, not checked out of order
    print("Q", len(up._rcpts), up.hub_seq, up.receipts_deferred, up.idle())
    t = asyncio.create_task(up.run())        # the drain task: the first fails once more,
    while up._rcpts:                         # then both apply
        await asyncio.sleep_ms(10)
    up._trim()
    print("R", len(up._rcpts), up.hub_seq, up.receipts_verified, up.receipts_deferred,
          len(d.outbox), up.idle())
    fails[0] = 1
    up.on_receipt(rc(3, seed=b"\\x07" * 32))  # forged, and no heap at first
    for s in (3, 4, 5, 6):                   # four more: the queue keeps 4, the newest
        up.on_receipt(rc(s))
    print("O", len(up._rcpts), up.receipts_dropped)
    while up._rcpts:
        await asyncio.sleep_ms(10)
    up._trim()
    print("S", len(up._rcpts), up.hub_seq, len(d.outbox))
    up.stop()
    command.open_receipt = real
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "Q 2 0 1 False" in out, out
    assert "R 0 2 2 2 1 False" in out, out  # record 3 is sent-and-unreceipted: not idle
    assert "O 4 0" in out, out
    assert "S 0 6 0" in out, out  # the forged one refused, the newest receipt applied
    assert out.count("receipt check deferred") == 3, out


def test_a_trim_without_heap_is_made_again_and_never_ends_the_drain_task(run_mpy, dev_cfg):
    # CI, a 192K handheld over TLS beside the whole suite: a receipt's trim parsed a record's
    # envelope (_awaits_chunks) with no heap left, and the MemoryError ended the drain task
    # and the device with it
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    for i in range(3):
        await d.emit("note", {"i": i})
    up = d.uploader
    t = asyncio.create_task(up.run())
    while up.outbox.next_after(up.sent_rid) is not None:
        await asyncio.sleep_ms(10)           # all three sent, kept until a receipt
    real = up.outbox.tail
    fails = [2]
    def tight(rid, n):
        if fails[0]:
            fails[0] -= 1
            raise MemoryError("memory allocation failed")
        return real(rid, n)
    up.outbox.tail = tight
    up.on_receipt(command.seal_receipt(d.dev, 3, {}, 1, hub_seed))
    for _ in range(300):
        if len(d.outbox) == 0:
            break
        await asyncio.sleep_ms(10)
    print("T", len(d.outbox), up.trims_deferred, fails[0], t.done())
    up.stop()
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "T 0 2 0 False" in out, out
    assert out.count("trim deferred: no heap") == 2, out


def test_the_hub_state_rewinds_for_a_new_session_or_a_return_never_for_the_retained_one(
    run_mpy, dev_cfg
):
    # the retained hub state seen right after every link-up rewound a second time, and a
    # record under way was then sent again whole (a 1 MB photo twice after a reboot)
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    up = d.uploader
    st = lambda online, ses: command.seal_state(None, online, ses, h.clock.time(), hub_seed)
    out = []
    def saw(label, msg):
        up._rewind = False
        up.on_hub_state(msg)
        out.append("%s=%d" % (label, 1 if up._rewind else 0))
    def link_up():
        up.on_link_up()
        up._rewind = False  # the link-up rewind itself
    link_up()
    saw("new", st(True, 7))
    link_up()
    saw("retained", st(True, 7))
    saw("offline", st(False, 7))
    saw("back", st(True, 7))
    saw("other", st(True, 8))
    saw("flip", st(True, 7))
    link_up()
    saw("first-after-offline", st(False, 8))
    print(" ".join(out), d.state.get("hub_ses"))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "new=1 retained=0 offline=0 back=1 other=1 flip=0 first-after-offline=0 [8, 7]" in out, (
        out
    )


def test_a_rewind_keeps_the_progress_of_the_upload_under_way(run_mpy, dev_cfg):
    # a rewind after a reboot sent the older, unreceipted records first, and sending one
    # replaced the photo's progress: the photo then went again from chunk 0
    script = (
        DEVICE
        + """
class CutLink(FakeLink):
    cut_at = -1
    async def publish(self, topic, payload, qos=1, retain=False, timeout=10, keep=True):
        if self.sent == self.cut_at:
            raise OSError(104)  # the link drops in the middle of the photo
        await FakeLink.publish(self, topic, payload, qos, retain, timeout, keep)

async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=CutLink)
    up = d.uploader
    await d.emit("note", {"i": 1})
    p = d.media_dir + "/m.jpg"
    with open(p, "wb") as f: f.write(b"x" * (16384 * 6))
    await d.emit("report", {}, [(p, "image/jpeg")])
    first = d.outbox.next_after(0)
    photo = d.outbox.next_after(first[0])
    await up.send_record(first)
    d.link.cut_at = d.link.sent + 4  # the photo's envelope and 3 chunks, then the cut
    try:
        await up.send_record(photo)
    except OSError:
        pass
    sent = [chunking.parse_frame(f)[1] for t, f in d.link.frames if t.endswith("/blob")]
    print("BEFORE", sent)
    d.link.frames = []
    d.link.cut_at = -1
    await up.send_record(first)  # the rewind: the older record again, whole
    print("PROGRESS", up._prog[0] == photo[0], up.progress.load())
    await up.send_record(photo)
    again = [(t.split("/")[-1], chunking.parse_frame(f)[1] if t.endswith("/blob") else None)
             for t, f in d.link.frames]
    print("AFTER", again)
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(trim_on="receipt"), heapsize="4M")
    assert "BEFORE [0, 1, 2]" in out, out
    assert "PROGRESS True" in out, out
    # the note again (envelope), then the photo from chunk 3 on: its envelope not again
    assert "AFTER [('note', None), ('blob', 3), ('blob', 4), ('blob', 5)]" in out, out
