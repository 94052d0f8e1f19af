"""Gate commands on MicroPython against a real Mosquitto: remote open through the runtime's
CommandGuard (forged, expired, misdirected and replayed opens never move the relay), door
modes persisted across a restart, list sync, time sync, enrol."""

from __future__ import annotations

import json
import time

from protocol import command, crypto
from tests.firmware.gate_scripts import GATE, entries_file, gate_cfg, parse
from tests.support.micropython import read_until

HUB_SEED = bytes(range(32))
DEV = "gate-cmd"

# the gate on the real link; stops when the test creates <flash>/stop
LIVE = (
    GATE
    + """
class Until:
    def __init__(self, g):
        self.g = g
    async def run(self):
        t = asyncio.create_task(self.g.run())
        stop = cfg["flash"] + "/stop"
        print("READY")
        while True:
            try:
                os.stat(stop)
                break
            except OSError:
                await asyncio.sleep_ms(50)
        await g.batch.flush()
        await wait_until(lambda: d.idle(), 20)
        await wait_until(lambda: g.doors["d1"].until is None, 20)  # a pulse ended
        t.cancel()
        print("ACTIVATIONS", h.lock.activations("d1"), "RELEASED", h.lock.released("d1"))
        print("MODES", json.dumps(d.state.get("modes")))
        print("TEMPLATES", json.dumps(sorted(h.face.templates())) if h.face else None)
        return "done"

d, g = make(link=None, seed=len(sys.argv) > 2)
asyncio.run(d.run(Until(g)))
"""
)


def _cfg(broker, **over):
    cfg = gate_cfg("face", **over)
    cfg.update(device_id=DEV, broker={"host": broker.host, "port": broker.port, "keepalive": 30})
    return cfg


def _seal(cseq, op, args, *, seed=HUB_SEED, dev=DEV, iat=None, ttl=600):
    iat = int(time.time()) if iat is None else iat
    return command.seal_command(dev, cseq, f"c-{op}-{cseq}-{iat}", op, args, iat, iat + ttl, seed)


def _acks(sub, n, timeout=30):
    def probe():
        acks = [e["body"] for e in sub.envelopes(DEV, "ack")]
        return acks if len(acks) >= n else None

    return sub.wait(f"{n} acks", probe, timeout)


def _start(mpy_procs, cfg_path, entries=None):
    args = [cfg_path] + ([entries] if entries else [])
    p = mpy_procs(LIVE, *args, heapsize="1M")
    read_until(p, "READY", 30)
    return p


def _stop(p, flash):
    (flash / "stop").write_text("")
    out = "\n".join(read_until(p, "TEMPLATES", 60))
    p.wait(30)
    return out


def test_only_a_valid_open_moves_the_relay_exactly_once(
    broker, subscriber, mpy_procs, dev_cfg, tmp_path
):
    sub = subscriber()
    path = dev_cfg(**_cfg(broker))
    p = _start(mpy_procs, path, entries_file(tmp_path))
    sub.wait("online", lambda: sub.online(DEV) or None, 30)
    t = f"gl/v1/{DEV}/cmd"
    now = int(time.time())
    valid = _seal(1, "open", {"door": "d1", "ms": 400})
    sub.publish(t, _seal(1, "open", {"door": "d1"}, seed=crypto.new_seed()))  # forged
    sub.publish(t, _seal(1, "open", {"door": "d1"}, iat=now - 4000, ttl=60))  # expired
    sub.publish(t, _seal(1, "open", {"door": "d1"}, dev="gate-other"))  # misdirected
    sub.publish(t, valid)
    sub.publish(t, valid)  # replayed
    acks = _acks(sub, 5)
    out = _stop(p, tmp_path / "flash")
    got = [(a["status"], a["detail"]) for a in acks]
    assert [s for s, _ in got] == ["refused", "refused", "refused", "succeeded", "refused"], got
    assert got[3] == ("succeeded", "opened d1"), got
    assert "replay" in got[4][1], got
    assert "ACTIVATIONS 1 RELEASED False" in out, out
    remote = [
        ev
        for env in sub.envelopes(DEV, "access")
        for ev in env["body"]["events"]
        if ev.get("by") == "remote"
    ]
    assert len(remote) == 1 and remote[0]["ev"] == "granted" and remote[0]["door"] == "d1"


def test_door_mode_is_persisted_and_list_sync_and_time_sync_and_enrol(
    broker, subscriber, mpy_procs, dev_cfg, tmp_path
):
    sub = subscriber()
    path = dev_cfg(**_cfg(broker))
    p = _start(mpy_procs, path, entries_file(tmp_path))
    sub.wait("online", lambda: sub.online(DEV) or None, 30)
    t = f"gl/v1/{DEV}/cmd"
    sub.publish(t, _seal(1, "door_mode", {"door": "d1", "mode": "always_open"}))
    sub.publish(t, _seal(2, "door_mode", {"door": "d1", "mode": "sideways"}))
    sub.publish(t, _seal(3, "time_sync", {"ts": int(time.time()) + 120}))
    sub.publish(t, _seal(4, "enrol", {"person": "p-77", "template": "f-9"}))
    # consent withdrawn for p-13: the delta drops its face; the template leaves the module
    delta = {
        "mode": "delta", "base": 1, "version": 2, "part": 1, "parts": 1,
        "entries": [{"op": "put", "t": "person", "id": "p-13", "kind": "resident", "from": 0,
                     "to": None, "doors": ["*"], "sched": None, "black": False,
                     "cards": ["04B0B0B0"], "qr": [], "pins": [], "duress": [], "face": None}],
    }  # fmt: skip
    sub.publish(t, _seal(5, "list_sync", delta))
    sub.publish(t, _seal(6, "list_sync", dict(delta, base=7, version=8)))
    acks = _acks(sub, 6)
    out = _stop(p, tmp_path / "flash")
    got = [(a["status"], a["detail"]) for a in acks]
    assert got[0] == ("succeeded", "mode d1 always_open"), got
    assert got[1][0] == "failed" and got[1][1].startswith("ValueError: door_mode"), got
    assert got[2][0] == "succeeded" and 115 <= int(got[2][1].split()[1]) <= 125, got
    assert got[3] == ("succeeded", "template f-9"), got
    assert got[4] == ("succeeded", "applied 2"), got
    assert got[5] == ("failed", "base_mismatch 2"), got  # just the detail docs/access.md names
    assert 'MODES {"d1": "always_open"}' in out and "RELEASED True" in out, out
    assert 'TEMPLATES ["f-9", "t-0001"]' in out, out  # sorted
    enrolled = [e["body"] for e in sub.envelopes(DEV, "enrolled")]
    assert enrolled == [{"community": "330102001001", "person": "p-77", "template": "f-9"}]
    modes = [
        ev for env in sub.envelopes(DEV, "access") for ev in env["body"]["events"]
        if ev["ev"] == "mode"
    ]  # fmt: skip
    assert [(m["door"], m["mode"], m["cause"]) for m in modes] == [("d1", "always_open", "command")]
    # a restart keeps the mode: the relay is released at boot, a card read still decided
    p = _start(mpy_procs, path)
    out = _stop(p, tmp_path / "flash")
    assert 'MODES {"d1": "always_open"}' in out and "RELEASED True" in out, out
    assert json.loads((tmp_path / "flash" / "state.json").read_text())["clock_offset_s"] > 100
    _ = parse
