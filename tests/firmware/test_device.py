"""Device.emit (firmware/lib/device.py) on MicroPython at a fake link."""

from __future__ import annotations

from tests.firmware.scripts import DEVICE


def test_media_of_an_event_the_full_outbox_refuses_is_deleted(run_mpy, dev_cfg):
    # emit() counted the event lost on OutboxFullError but left its photos on flash
    script = (
        DEVICE
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
