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


ALARMS = (
    GATE
    + """
async def ticker(g):
    while True:
        g.tick()
        await asyncio.sleep_ms(20)

async def main():
    d, g = make()
    t = asyncio.create_task(ticker(g))
    async def step(*acts, wait=0):
        await play(g, *acts)
        await asyncio.sleep_ms(wait)
        await wait_until(lambda: all(x.done() for x in g.hal.inputs._tasks), 10)
    await step({"do": "force", "door": "d1", "s": 0.1}, wait=200)
    await step({"do": "card", "card": "04A1B2C3"}, {"do": "pass", "door": "d1", "n": 2}, wait=300)
    await step({"do": "card", "card": "04A1B2C3"}, {"do": "pass", "door": "d1", "n": 1}, wait=300)
    await step({"do": "exit", "door": "d1"}, {"do": "pass", "door": "d1", "n": 3}, wait=300)
    await step({"do": "card", "card": "04A1B2C3"}, {"do": "hold", "door": "d1", "s": 1.6},
               wait=1800)
    await step({"do": "tamper"}, {"do": "help", "door": "d1"})
    await step({"do": "pin", "pin": "9999"}, {"do": "card", "card": "04BAD666"})
    await step(*[{"do": "face", "who": "stranger-3"}] * 3, {"do": "face", "who": "stranger-4"})
    if t.done():
        await t  # the ticker died: show why
    t.cancel()
    await g.batch.flush()
    dump(d)
asyncio.run(main())
"""
)


def test_every_alarm_is_raised_and_closes_its_batch(run_mpy, dev_cfg, tmp_path):
    doors = [{"id": "d1", "dir": "in", "fail": "secure", "open_ms": 3000, "held_open_s": 1}]
    out = run_mpy(
        ALARMS, dev_cfg(**gate_cfg("face", doors=doors)), entries_file(tmp_path), heapsize="1M"
    )
    envs, evs = parse(out)
    alarms = [e["ev"] for e in evs if e["ev"] not in ("granted", "denied")]
    assert alarms == [
        "door_forced",
        "tailgating",
        "door_held",
        "tamper",
        "help",
        "duress",
        "blacklist_hit",
        "stranger_repeated",
    ], out
    # an alarm is the last event of its envelope
    k = 0
    for env in envs:
        batch = evs[k : k + env["n"]]
        k += env["n"]
        assert all(e["ev"] in ("granted", "denied") for e in batch[:-1]), out
    assert k == len(evs)
    by = {e["ev"]: e for e in evs}
    assert by["tailgating"]["person"] == "p-12" and by["tailgating"]["door"] == "d1"
    assert by["duress"]["person"] == "p-12"
    assert by["blacklist_hit"]["person"] == "p-66" and by["blacklist_hit"]["cred"] == "04BAD666"
    assert by["stranger_repeated"]["track"] == "stranger-3"
    assert by["stranger_repeated"]["count"] == 3
    # the duress PIN opens the door as any PIN would (a silent alarm)
    duress_grant = evs[evs.index(by["duress"]) - 1]
    assert (duress_grant["ev"], duress_grant["by"]) == ("granted", "pin"), out
    # the exit button lets three out without a tailgating alarm; one card, one person: none
    assert alarms.count("tailgating") == 1


STORAGE = (
    GATE
    + """
async def main():
    d, g = make()
    g.tick()
    print("LOW0", g.storage_low)
    for i in range(12):
        await play(g, {"do": "card", "card": "FFFF%04d" % i})
    await g.batch.flush()
    g.tick()
    print("LOW1", g.storage_low)
    g.tick()
    await g.batch.flush()
    dump(d)
asyncio.run(main())
"""
)


def test_storage_low_when_the_outbox_passes_its_share(run_mpy, dev_cfg, tmp_path):
    cfg = gate_cfg("access", outbox_bytes=8192, storage_alarm_pct=20, batch_events=4)
    out = run_mpy(STORAGE, dev_cfg(**cfg), entries_file(tmp_path), heapsize="1M")
    assert "LOW0 False" in out and "LOW1 True" in out, out
    _, evs = parse(out)
    low = [e for e in evs if e["ev"] == "storage_low"]
    assert len(low) == 1 and low[0]["pct"] >= 20, out
