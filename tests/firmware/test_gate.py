"""The gate core (firmware/lib/gate.py) and its apps on MicroPython: local decisions, the
relay, evidence in batches (firmware/lib/batch.py)."""

from __future__ import annotations

from tests.firmware.gate_scripts import GATE, entries_file, gate_cfg, parse

DECISIONS = (
    GATE
    + """
async def main():
    d, g = make()
    await play(g,
        {"do": "face", "who": "p-12"},
        {"do": "face", "who": "stranger-3"},
        {"do": "card", "card": "04A1B2C3"},
        {"do": "card", "card": "04DEAD00"},
        {"do": "card", "card": "FFFF0000"},
        {"do": "card", "card": "04D2D2D2", "door": "d1"},
        {"do": "pin", "pin": "1234"},
        {"do": "qr", "qr": "q-9f2c"},
        {"do": "face", "who": "p-13", "score": 60},
        {"do": "pin", "pin": "0000"})
    print("RELEASED", h.lock.released("d1"), h.lock.activations("d1"))
    await g.batch.flush()
    dump(d)
asyncio.run(main())
"""
)


def test_reads_are_decided_from_the_cached_list(run_mpy, dev_cfg, tmp_path):
    out = run_mpy(DECISIONS, dev_cfg(**gate_cfg("face")), entries_file(tmp_path), heapsize="1M")
    envs, evs = parse(out)
    got = [(e["ev"], e["by"], e.get("reason"), e.get("person")) for e in evs]
    assert got == [
        ("granted", "face", None, "p-12"),
        ("denied", "face", "unknown", None),
        ("granted", "card", None, "p-12"),
        ("denied", "card", "expired", "p-40"),
        ("denied", "card", "unknown", None),
        ("denied", "card", "wrong_door", "p-70"),
        ("granted", "pin", None, "p-12"),
        ("granted", "qr", None, "p-12"),
        ("denied", "face", "low_score", "p-13"),
        ("denied", "pin", "unknown", None),
    ], out
    face = evs[0]
    assert face["template"] == "t-0001" and face["score"] == 93 and face["blob"] == 0
    assert evs[1]["blob"] == 1 and evs[2]["blob"] is None and evs[2]["cred"] == "04A1B2C3"
    assert all(e["door"] == "d1" and e["dir"] == "in" for e in evs)
    assert all(isinstance(e["lat_ms"], int) and e["ts"] > 1.7e9 for e in evs)
    assert "RELEASED True 1" in out, out
    # 10 events, batch_events 8: two envelopes; the faces' captures are blobs of the first
    assert [(e["n"], e["blobs"]) for e in envs] == [(8, 2), (2, 1)], out
    assert all(e["community"] == "330102001001" for e in envs)
