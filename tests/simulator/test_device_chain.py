"""Device.emit and the power-loss repair of the chain head, run on micropython (no network:
a do-nothing link is injected through the constructor)."""

from __future__ import annotations

import json

from protocol import crypto, envelope
from tests.support.micropython import run_micropython

SCRIPT = r"""
import json, sys, asyncio, binascii
import hal
from device import Device
from protocol import envelope, topics

class NoLink:
    def __init__(self, factory, **kw):
        pass
    def is_up(self):
        return False

with open(sys.argv[1]) as f:
    cfg = json.load(f)
h = hal.build(cfg)
out = []

async def main():
    d = Device(cfg, h, cfg["flash"], link_factory=NoLink)
    await d.emit("heartbeat", {"n": 1})
    # power loss between outbox.put and the state save: put seq 2 by hand, state still says 1
    prev = d.state.get("prev")
    env = envelope.build(d.dev, 2, d.clock.time(), "signin", {"worker": "w"}, [], prev)
    data = envelope.seal(env, d.seed)
    d.outbox.put(topics.evt(d.dev, "signin"), data)
    d.outbox.close()
    out.append(d.state.get("seq"))
    d2 = Device(cfg, h, cfg["flash"], link_factory=NoLink)  # the reboot
    out.append(d2.state.get("seq"))
    await d2.emit("heartbeat", {"n": 3})
    out.append(d2.state.get("seq"))
    d2.outbox.close()
    recs = [binascii.hexlify(r[2]).decode() for r in d2.outbox.iter()]
    print(json.dumps({"seqs": out, "recs": recs}))

asyncio.run(main())
"""


def test_chain_never_forks_after_power_loss_between_put_and_save(tmp_path):
    seed = crypto.new_seed()
    cfg = {
        "device_id": "hh-chain",
        "grid": "33010200100101",
        "key": seed.hex(),
        "hub_key": crypto.public_key(crypto.new_seed()).hex(),
        "flash": str(tmp_path / "flash"),
        "hal": {
            "ui": "none",
            "camera": "none",
            "microphone": "none",
            "gps": "sim",
            "battery": "sim",
        },
        "sim": {},
    }
    # a roomy heap: this test is about the chain (the heap is the HIL tests' business)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    r = run_micropython(SCRIPT, args=[str(path)], heapsize="1M", check=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["seqs"] == [1, 2, 3]  # the reboot adopted seq 2 from the outbox
    envs = [bytes.fromhex(h) for h in res["recs"]]
    pk = crypto.public_key(seed)
    prev = "0" * 64
    for i, data in enumerate(envs, 1):
        env = envelope.open(data, pk)
        assert env["seq"] == i and env["prev"] == prev
        prev = envelope.digest(data)
