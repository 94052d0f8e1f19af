"""Device (firmware/lib/device.py) on MicroPython: emit at a fake link; live / historical,
on_live and status against a real Mosquitto."""

from __future__ import annotations

import time

from protocol import command, topics
from tests.firmware.scripts import DEVICE, WAIT_UNTIL
from tests.support.micropython import read_until
from tests.support.wire import MqttObserver


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


LIVE = (
    DEVICE
    + WAIT_UNTIL
    + """
async def main():
    import gc
    gc.collect()  # the script's own compilation fragments the small heap
    d = Device(cfg, h, cfg["flash"])
    d.status["lists"] = 42
    seen = []
    def changed(live):
        seen.append(live)
        print("LIVE", live)
    d.on_live(changed)
    run = asyncio.create_task(d.run())
    s = await d.emit("note", {"n": 1})  # the runtime has not even started: not live
    print("EMIT", s, d.live())
    for n, want, step in ((2, True, "live"), (3, False, "hub_down"), (None, True, "hub_up"),
                          (4, False, "link_down"), (None, True, "back")):
        await wait_until(lambda: d.live() is want and seen and seen[-1] is want, 60)
        if n is not None:
            await d.emit("note", {"n": n})
        print("STEP", step, seen)
    await wait_until(d.idle, 60)
    print("DONE", seen, d.heap_hwm)
    run.cancel()
asyncio.run(main())
"""
)


def test_live_and_historical_events_status_in_heartbeat_and_birth(
    mpy_procs, persistent_broker, dev_cfg
):
    # a real Mosquitto plays the link; a paho client plays the hub's retained state
    hub = bytes(range(32))  # the DEVICE snippet's hub seed
    wire = MqttObserver(persistent_broker, ("gl/v1/#",), client_id="obs", clean=False).start()
    try:

        def hub_state(online: bool) -> None:
            state = command.seal_state(None, online, 1, int(time.time()), hub)
            wire.publish(topics.HUB_STATE, state, retain=True)

        hub_state(True)
        cfg = dev_cfg(
            broker={"host": persistent_broker.host, "port": persistent_broker.port},
            require_hub=True,
            heartbeat_s=3600,  # one heartbeat, at start (before the link is up)
            backoff_min_ms=100,
            backoff_max_ms=400,
            chunk_size=4096,  # the upload buffer: one contiguous block on a fragmented heap
        )
        # 256K: this script compiles the runtime from source in import order, without
        # main.py's largest-first preload that fits the handheld in 192K (bench/firmware_heap.py)
        p = mpy_procs(LIVE, cfg, heapsize="256K")
        assert "EMIT 1 False" in read_until(p, "EMIT", 30)[-1]
        read_until(p, "STEP live", 60)
        hub_state(False)
        read_until(p, "STEP hub_down", 60)
        hub_state(True)
        read_until(p, "STEP hub_up", 60)
        persistent_broker.stop()
        read_until(p, "STEP link_down", 60)
        persistent_broker.start()
        done = read_until(p, "DONE", 90)[-1]
        assert done.startswith("DONE [True, False, True, False, True]"), done
        envs = wire.wait(
            "5 envelopes",
            lambda: (e := wire.envelopes("hh-review")) and len({x["seq"] for x in e}) >= 5 and e,
            timeout=30,
        )
    finally:
        wire.stop()
    by_seq = {e["seq"]: e for e in envs}
    assert sorted(by_seq) == [1, 2, 3, 4, 5]
    kinds = {s: (e["kind"], e["body"].get("n"), e.get("hist")) for s, e in by_seq.items()}
    assert kinds == {
        1: ("note", 1, True),  # emitted before the runtime ran
        2: ("heartbeat", None, True),  # the heartbeat at start: link not up yet
        3: ("note", 2, None),  # live: no hist key at all
        4: ("note", 3, True),  # link up, hub state offline
        5: ("note", 4, True),  # link down
    }
    assert by_seq[2]["body"]["lists"] == 42 and by_seq[2]["body"]["fw"]
    births = [s for s in wire.states("hh-review") if s["online"]]
    assert len(births) >= 2 and {b["lists"] for b in births} == {42}


def test_emit_hist_rules_acks_and_status(run_mpy, dev_cfg):
    # hist None follows live(); an ack is live by construction; True / False are obeyed
    script = (
        DEVICE
        + """
class Client:
    def __init__(self): self.pub = []
    async def subscribe(self, t, q): pass
    async def publish(self, t, p, q, r): self.pub.append((t, p))
    async def wait_closed(self): await asyncio.Event().wait()

def hist(d):
    return envelope.parse(list(d.outbox.iter())[-1][2]).get("hist")  # the newest record

async def main():
    for name, link in (("down", NoLink), ("up", FakeLink)):
        d = Device(cfg, h, cfg["flash"] + name, link_factory=link)
        out = [name, d.live()]
        for kind, h_arg in (("note", None), ("ack", None), ("note", True), ("note", False)):
            await d.emit(kind, {}, hist=h_arg)
            out.append(hist(d))
        print(*out)
    d.status.update({"lists": 7, "fw": "app-fake", "doors": 2})
    b = d.heartbeat_body()
    print("HB", b["lists"], b["doors"], b["fw"] == d.fw)
    for lists in (7, "7"):
        d.status["lists"] = lists
        c = Client()
        await d._on_up(c)
        print("BIRTH", command.open_state(c.pub[-1][1]).get("lists"))
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(), heapsize="4M")
    assert "down False True None True None" in out, out
    assert "up True None None True None" in out, out
    assert "HB 7 2 True" in out, out
    assert "BIRTH 7\n" in out, out
    # a bad value is an app bug: logged, and the birth goes out without lists (not no birth)
    assert "ERROR device birth without lists: lists must be an integer" in out, out
    assert out.rstrip().endswith("BIRTH None"), out


def test_an_emit_without_heap_for_its_signature_is_tried_again_unless_stored(run_mpy, dev_cfg):
    # a 192K handheld in a burst: the signature (pure-Python Ed25519, ~10 KB transient) ran
    # out of heap and the app (or the command runner, for an ack) died with it. Tried again
    # after a collection while nothing was stored; a MemoryError after the outbox write is
    # raised (a second try would be a second envelope with the same seq)
    script = (
        DEVICE
        + """
async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=FakeLink)
    real = envelope.seal
    fails = [3]
    def tight(env, seed):
        if fails[0]:
            fails[0] -= 1
            raise MemoryError("memory allocation failed")
        return real(env, seed)
    envelope.seal = tight
    seq = await d.emit("note", {"i": 1})
    print("A", seq, len(d.outbox), d.state.get("seq"), fails[0])
    save = d.state.save
    def broken():
        d.state.save = save
        raise MemoryError("memory allocation failed")
    d.state.save = broken             # after the outbox write: stored, not tried again
    try:
        await d.emit("note", {"i": 2})
    except MemoryError:
        print("B raised", len(d.outbox), d.state.get("seq"))
    envelope.seal = real
asyncio.run(main())
"""
    )
    out = run_mpy(script, dev_cfg(), heapsize="4M")
    assert "A 1 1 1 0" in out, out
    assert "B raised 2 2" in out, out
