"""Batching rules (firmware/lib/batch.py) and the fail modes of the gate core on MicroPython:
N events, T seconds, at most MAX_BLOBS captures an envelope, the journal across a power cut,
fail-open after the link is lost and back when it returns."""

from __future__ import annotations

import pytest

from tests.firmware.gate_scripts import GATE, entries_file, gate_cfg, parse

BATCH = (
    GATE
    + """
async def main():
    d, g = make()
    run = asyncio.create_task(g.batch.run())
    # 20 faces in a row with batch_events 64: the 17th capture opens a new envelope
    await play(g, *[{"do": "face", "who": "p-12"}] * 20)
    # T: two cards, then nothing: the batch goes out batch_s after its first event
    await wait_until(lambda: g.batch.emitted == 2, 10)  # the 4 left went out after T
    await play(g, {"do": "card", "card": "04A1B2C3"}, {"do": "card", "card": "04A1B2C3"})
    n = g.batch.emitted
    await wait_until(lambda: g.batch.emitted == n + 1, 10)
    print("T_OK")
    # a power cut with events journaled but not signed: they come back at boot
    await play(g, {"do": "card", "card": "FFFF0001"}, {"do": "card", "card": "FFFF0002"})
    run.cancel()
    print("JOURNALED", len(g.batch))
    d2, g2 = make(seed=False)
    print("RESTORED", len(g2.batch))
    await g2.batch.flush()
    d3, g3 = make(seed=False)
    print("AFTER", len(g3.batch))
    dump(d3)
asyncio.run(main())
"""
)


def test_batches_by_count_time_and_blobs_and_survive_a_power_cut(run_mpy, dev_cfg, tmp_path):
    cfg = gate_cfg("face", batch_events=64, batch_s=1)
    out = run_mpy(BATCH, dev_cfg(**cfg), entries_file(tmp_path), heapsize="1M")
    assert "T_OK" in out and "JOURNALED 2" in out, out
    assert "RESTORED 2" in out and "AFTER 0" in out, out
    envs, evs = parse(out)
    # 16 + 4 faces (the 17th capture closed the first), the 2 cards after T, the 2 restored
    assert [(e["n"], e["blobs"]) for e in envs][:2] == [(16, 16), (4, 4)], out
    assert [e["n"] for e in envs[2:]] == [2, 2], out
    assert [e.get("cred") for e in evs[-2:]] == ["FFFF0001", "FFFF0002"], out
    assert all(e["blobs"] <= 16 for e in envs)
    assert [e["blob"] for e in evs[:20]] == list(range(16)) + list(range(4)), out


FAIL = (
    GATE
    + """
class Flaky(FakeLink):
    up = True
    def is_up(self): return Flaky.up

async def main():
    d, g = make(link=Flaky)
    g.tick()
    print("UP", h.lock.released("d1"), h.lock.released("d2"))
    Flaky.up = False
    g.tick()
    await wait_until(lambda: (g.tick() or True) and h.lock.released("d2"), 10)
    print("DOWN", h.lock.released("d1"), h.lock.released("d2"))
    # the fail-secure door keeps deciding locally while the link is down
    await play(g, {"do": "card", "card": "04A1B2C3", "door": "d1"},
               {"do": "card", "card": "FFFF0000", "door": "d1"})
    Flaky.up = True
    g.tick()
    print("BACK", h.lock.released("d2"))
    await g.batch.flush()
    dump(d)
asyncio.run(main())
"""
)


def test_a_fail_open_door_opens_after_the_link_is_lost_and_closes_when_it_returns(
    run_mpy, dev_cfg, tmp_path
):
    cfg = gate_cfg("access", fail_open_after_s=1)
    out = run_mpy(FAIL, dev_cfg(**cfg), entries_file(tmp_path), heapsize="1M")
    assert "UP False False" in out and "BACK False" in out, out
    assert "DOWN True True" in out or "DOWN False True" in out, out
    _, evs = parse(out)
    modes = [(e["door"], e["mode"], e["cause"]) for e in evs if e["ev"] == "mode"]
    assert modes == [("d2", "always_open", "fail_open"), ("d2", "normal", "link_back")], out
    dec = [(e["ev"], e.get("reason")) for e in evs if e["ev"] in ("granted", "denied")]
    assert dec == [("granted", None), ("denied", "unknown")], out


CUT = (
    GATE
    + """
import batch as batch_mod
REPLACE = batch_mod.replace

class Cut(Exception):
    pass

def boom(*a, **kw):
    raise Cut()

def cards(*names):
    return [{"do": "card", "card": c} for c in names]

async def main():
    point = sys.argv[3]
    d, g = make()
    await play(g, *cards("FFFF0001", "FFFF0002", "FFFF0003"))  # batch_events 3: closed
    if point == "seal":  # the seal line written, the envelope not
        d.emit = boom
    elif point == "put":  # the envelope in the outbox, the state (seq, batch_n) not saved
        d.state.save = boom
    elif point == "saved":  # state saved, the journal not compacted
        g.batch._compact = boom
    elif point == "compact":  # compacted into the temp file, not renamed
        batch_mod.replace = boom
    elif point == "torn":  # a journal line half written when the power went
        with open(g.batch.path, "a") as f:
            f.write('[4, {"ev": "gran')
    try:
        await g.batch.flush()
        print("NO_CUT")
    except Cut:
        print("CUT")
    batch_mod.replace = REPLACE
    d2, g2 = make(seed=False)
    print("PENDING", len(g2.batch))
    await play(g2, *cards("FFFF0004"))
    await g2.batch.flush()
    d3, g3 = make(seed=False)
    print("LEFT", len(g3.batch))
    dump(d3)
asyncio.run(main())
"""
)


@pytest.mark.parametrize("point", ["none", "seal", "put", "saved", "compact", "torn"])
def test_a_power_cut_at_any_step_of_sealing_a_batch_stores_each_event_exactly_once(
    run_mpy, dev_cfg, tmp_path, point
):
    cfg = gate_cfg("access", batch_events=3)
    out = run_mpy(CUT, dev_cfg(**cfg), entries_file(tmp_path), point, heapsize="1M")
    assert ("NO_CUT" if point in ("none", "torn") else "CUT") in out, out
    assert "LEFT 0" in out, out
    envs, evs = parse(out)
    creds = [e.get("cred") for e in evs]
    assert creds == ["FFFF0001", "FFFF0002", "FFFF0003", "FFFF0004"], out
    seqs = [e["seq"] for e in envs]
    assert seqs == sorted(set(seqs)), out
